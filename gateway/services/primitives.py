"""FHIR R4 primitive types checked on the raw JSON, with no coercion (R4 datatypes.html, json.html).

May import: stdlib only. fhir.resources (pydantic) coerces ("yes" -> True for boolean), so the
JSON types and lexical forms are checked here first: a boolean must be a JSON boolean, an
integer a JSON integer, a date a string matching the R4 regex, and so on.
"""
from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH, _DAY = r"(0[1-9]|1[0-2])", r"(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_TZ = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_PATTERNS = {
    "date": rf"{_YEAR}(-{_MONTH}(-{_DAY})?)?",
    "dateTime": rf"{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_TZ})?)?)?",
    "instant": rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_TZ}",
    "time": _TIME,
    "id": r"[A-Za-z0-9\-\.]{1,64}",
    "code": r"[^\s]+( [^\s]+)*",
    "uri": r"\S+", "url": r"\S+", "canonical": r"\S+",
    "oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
    "uuid": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
}
_COMPILED = {name: re.compile(f"^{pattern}$") for name, pattern in _PATTERNS.items()}
_STRINGS = {"string", "markdown", "base64Binary", "xhtml", *_PATTERNS}
_INT_RANGES = {"integer": (-2**31, 2**31 - 1), "positiveInt": (1, 2**31 - 1),
               "unsignedInt": (0, 2**31 - 1), "integer64": (-2**63, 2**63 - 1)}
MAX_STRING = 1024 * 1024  # R4 datatypes.html#string: strings SHALL NOT exceed 1 MB


def check_primitive(kind: str, value: object) -> str | None:
    """None if `value` is a valid JSON representation of FHIR primitive `kind`, else why not."""
    if kind == "boolean":
        return None if isinstance(value, bool) else f"must be a JSON boolean (true/false), got {value!r}"
    if kind in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a JSON integer, got {value!r}"
        low, high = _INT_RANGES[kind]
        return None if low <= value <= high else f"must be between {low} and {high}, got {value}"
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            return f"must be a JSON number, got {value!r}"
        return None
    if kind not in _STRINGS:
        return None
    if not isinstance(value, str):
        return f"must be a JSON string, got {value!r}"
    if value == "" or (kind == "string" and not value.strip()):
        return "must not be empty (R4 json.html: no empty values)"
    if len(value) > MAX_STRING:
        return "is longer than 1 MB"
    if kind == "base64Binary":
        try:
            base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            return "is not valid base64"
        return None
    pattern = _COMPILED.get(kind)
    if pattern is not None and not pattern.match(value):
        return f"{value!r} is not a valid FHIR {kind}"
    return None
