"""Named value transforms that profiles refer to (dates, phones). Pure, each tested on its own.

May import: stdlib, translators.types. Every transform has a FHIR -> v2 side (`to_v2`) and a
v2 -> FHIR side (`to_fhir`). Time (HL7 v2.5.1 2.A.22 DTM): an offset is never rewritten, a
naive timestamp takes the backend's zone on the way in, and precision is kept.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from translators.types import TranslationError

_FHIR_DT = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                      r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_V2_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$")


def date_to_v2(value: str, _options: dict) -> str:
    """FHIR date/dateTime -> v2 DT/DTM, same precision, offset kept ("Z" becomes +0000)."""
    match = _FHIR_DT.match(value)
    if not match:
        raise TranslationError(value, "not a FHIR date/dateTime")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    out = year + (month or "") + (day or "") + (hour or "") + (minute or "") + (second or "")
    out += (fraction or "")[:5]
    if zone:
        out += "+0000" if zone == "Z" else zone.replace(":", "")
    return out


def date_from_v2(value: str, options: dict, *, date_only: bool = False) -> str:
    """v2 DT/DTM -> FHIR date (date_only) or dateTime with the backend zone when naive."""
    match = _V2_DTM.match(value.strip())
    if not match:
        raise TranslationError(value, "not an HL7 DT/DTM value")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    date = "-".join(p for p in (year, month, day) if p)
    if date_only or hour is None:
        return date
    time = f"{hour}:{minute or '00'}:{second or '00'}{fraction or ''}"
    if zone:
        offset = f"{zone[:3]}:{zone[3:]}"
    else:
        naive = datetime(int(year), int(month or 1), int(day or 1), int(hour), int(minute or 0))
        offset = naive.replace(tzinfo=ZoneInfo(options.get("timezone", "UTC"))).strftime("%z")
        offset = f"{offset[:3]}:{offset[3:]}"
    return f"{date}T{time}{offset}"


def phone_to_v2(value: str, _options: dict) -> str:
    return value.strip()


def phone_from_v2(value: str, _options: dict) -> str:
    return value.strip()


def integer_from_v2(value: str, _options: dict) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise TranslationError(value, "not an HL7 NM integer") from None


TO_V2 = {"date": date_to_v2, "datetime": date_to_v2, "phone": phone_to_v2,
         "integer": lambda v, _o: str(v)}
TO_FHIR = {"date": lambda v, o: date_from_v2(v, o, date_only=True), "datetime": date_from_v2,
           "phone": phone_from_v2, "integer": integer_from_v2}
