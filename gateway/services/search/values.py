"""Turning FHIR values into index values: normalized strings, UTC date ranges, parsed references.

May import: stdlib only. Shared by index extraction (write side) and query parsing (read side),
so both sides normalize the same way.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, timezone

MAX_LEN = 255
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_REF = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def normalize(text: str) -> str:
    """Case- and accent-insensitive form (R4 search.html#string): NFKD, no marks, casefold."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()[:MAX_LEN]


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """[low, high] naive-UTC bounds of a FHIR date/dateTime/instant at its precision.

    A date without a zone is taken as UTC; "2024" covers the whole year (R4 search.html#date).
    """
    match = _DATE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        if month is None:
            low = datetime(int(year), 1, 1)
            return low, datetime(int(year) + 1, 1, 1) - timedelta(microseconds=1)
        if day is None:
            low = datetime(int(year), int(month), 1)
            nxt = (low + timedelta(days=32)).replace(day=1)
            return low, nxt - timedelta(microseconds=1)
        if hour is None:
            low = datetime(int(year), int(month), int(day))
            return low, low + timedelta(days=1) - timedelta(microseconds=1)
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                          int(float(fraction) * 1_000_000) if fraction else 0)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    if fraction:
        return moment, moment
    step = timedelta(seconds=1) if second is not None else timedelta(minutes=1)
    return moment, moment + step - timedelta(microseconds=1)


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
