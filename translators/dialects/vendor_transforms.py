"""Named transforms the vendor JSON dialect applies between a FHIR value and vendor fields. Pure.

May import: stdlib, translators.types. Each transform is a pair (out, back): `out(fhir_value,
options)` gives the vendor value(s), `back(vendor_value(s), options)` the FHIR value. A
transform on a line with several JSON pointers returns (and receives) one value per pointer.
Time: a vendor that stores naive local date and time gets them in the backend's `timezone`
option (default UTC); on the way back that zone's offset is written, so the instant is kept.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from translators.types import TranslationError


def _zone(options) -> ZoneInfo:
    return ZoneInfo(str(options.get("timezone", "UTC")))


def _aware(value: str) -> datetime:
    """A FHIR dateTime/instant with a time and an offset (FHIR R4 datatypes: instant)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise TranslationError(str(value), "not a FHIR dateTime with a time") from None
    if parsed.tzinfo is None:
        raise TranslationError(str(value), "a dateTime with a time must carry an offset")
    return parsed


def local_date_time_out(value: str, options) -> list[str]:
    local = _aware(value).astimezone(_zone(options))
    return [local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")]


def local_date_time_back(values: list, options) -> str:
    day, time = values
    if day in (None, "") or time in (None, ""):
        raise TranslationError("date/time", "both the date and the time are needed")
    try:
        naive = datetime.fromisoformat(f"{day}T{time}")
    except ValueError:
        raise TranslationError(f"{day} {time}", "not a vendor date (YYYY-MM-DD) and time (HH:MM[:SS])") from None
    return naive.replace(tzinfo=_zone(options)).isoformat()


def minutes_as_seconds_out(value, _options) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TranslationError(str(value), "minutes must be an integer")
    return value * 60


def minutes_as_seconds_back(value, _options) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise TranslationError(str(value), "a duration in seconds must be an integer") from None
    if seconds % 60:
        raise TranslationError(str(value), "a duration in seconds that is not whole minutes")
    return seconds // 60


def text_out(value, _options) -> str:
    return str(value)


def integer_back(value, _options) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TranslationError(str(value), "not an integer") from None


def date_back(value, _options) -> str:
    """A vendor date (some vendors append a time: '1980-02-03 00:00:00') -> FHIR date."""
    text = str(value)[:10]
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise TranslationError(str(value), "not a date YYYY-MM-DD") from None
    return text


def day_out(value, _options) -> str:
    """A FHIR date or dateTime -> the vendor's date (YYYY-MM-DD): the date as written, so a
    dateTime keeps the day of its own offset; a partial date (2026, 2026-11) has no day."""
    text = str(value)
    try:
        datetime.strptime(text[:10], "%Y-%m-%d")
    except ValueError:
        raise TranslationError(text, "needs a full date (YYYY-MM-DD)") from None
    return text[:10]


def decimal_back(value, _options) -> int | float:
    """A vendor amount ("25.00", 25, 12.5) -> a FHIR decimal (a JSON number, R4 json.html#primitive);
    whole amounts become integers so that 25.00 is written 25, not 25.0."""
    if isinstance(value, bool):
        raise TranslationError(str(value), "not an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise TranslationError(str(value), "not an amount") from None
    if not amount.is_finite():
        raise TranslationError(str(value), "not an amount")
    return int(amount) if amount == amount.to_integral_value() else float(amount)


TRANSFORMS = {
    "local_date_time": (local_date_time_out, local_date_time_back),
    "minutes_as_seconds": (minutes_as_seconds_out, minutes_as_seconds_back),
    "integer_as_text": (text_out, integer_back),
    "date": (lambda v, _o: v, date_back),
    "day": (day_out, date_back),
    "decimal": (lambda v, _o: str(v), decimal_back),
}


def transform(name: str):
    if name not in TRANSFORMS:
        raise TranslationError(name, f"unknown transform; known: {', '.join(sorted(TRANSFORMS))}")
    return TRANSFORMS[name]
