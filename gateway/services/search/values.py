"""Turning FHIR values into index values: normalized strings, UTC date ranges, parsed references.

May import: stdlib only. Shared by index extraction (write side) and query parsing (read side),
so both sides normalize the same way.
"""
from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, datetime, time, timedelta, timezone

MAX_LEN = 255
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_REF = re.compile(r"(?:^|/)([A-Z][A-Za-z]{0,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def normalize(text: str) -> str:
    """Case- and accent-insensitive form (R4 search.html#string): NFKD, no marks, casefold."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()[:MAX_LEN]


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """[low, high] naive-UTC bounds of a FHIR date/dateTime/instant at its precision.

    R4 search.html#date: "2024" covers the whole year, "2024-05" the month, "2024-05-01" the day,
    a time without seconds its minute. A value without a zone is taken as UTC (the server's
    zone). None when the text is not a valid date.
    """
    match = _DATE.match(text)
    if not match:
        return None
    try:
        return _bounds(*match.groups())
    except (ValueError, OverflowError):  # 2024-02-30, 2024-13, year 0 or 9999 plus a zone...
        return None


def _bounds(year, month, day, hour, minute, second, fraction, zone) -> tuple[datetime, datetime]:
    tick = timedelta(microseconds=1)
    end_of_day = time(23, 59, 59, 999_999)
    if month is None:
        return datetime(int(year), 1, 1), datetime.combine(date(int(year), 12, 31), end_of_day)
    if day is None:
        last = calendar.monthrange(int(year), int(month))[1]
        return (datetime(int(year), int(month), 1),
                datetime.combine(date(int(year), int(month), last), end_of_day))
    if hour is None:
        low = datetime(int(year), int(month), int(day))
        return low, datetime.combine(low.date(), end_of_day)
    micros = int(fraction[1:7].ljust(6, "0")) if fraction else 0  # truncated to microseconds
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                      micros)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    if fraction:  # ".123" is the whole millisecond [.123000, .123999]
        step = timedelta(microseconds=10 ** max(0, 7 - len(fraction)))
    else:
        step = timedelta(seconds=1) if second is not None else timedelta(minutes=1)
    return moment, moment + max(step - tick, timedelta(0))


def parse_reference(reference: str) -> tuple[str | None, str | None, str | None]:
    """(target type, target id, absolute url) of a Reference.reference."""
    if reference.startswith(("#", "urn:")):
        return None, None, None
    match = _REF.search(reference)
    url = reference[:1024] if "://" in reference else None
    if match is None:
        return None, None, url
    return match.group(1), match.group(2), url


def utc_naive(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
