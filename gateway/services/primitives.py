"""FHIR R4 primitive types checked on the raw JSON, with no coercion (R4 datatypes.html, json.html),
the grammars of value sets that cannot be listed, and the syntax of Reference.reference.

May import: stdlib only. fhir.resources (pydantic) coerces ("yes" -> True for boolean), so the
JSON types and lexical forms are checked here first: a boolean must be a JSON boolean, an
integer a JSON integer, a date a string matching the R4 regex and a real calendar day, etc.
"""
from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import date
from decimal import Decimal

# Regexes quoted from R4 datatypes.html#primitive (the `regex` of each primitive type).
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
    "code": r"[^\s]+(\s[^\s]+)*",
    "uri": r"\S*", "url": r"\S*", "canonical": r"\S*",
    "oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
    "uuid": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
}
_COMPILED = {name: re.compile(f"{pattern}") for name, pattern in _PATTERNS.items()}
_DATED = ("date", "dateTime", "instant")
_STRINGS = {"string", "markdown", "base64Binary", "xhtml", *_PATTERNS}
_INT_RANGES = {"integer": (-2**31, 2**31 - 1), "positiveInt": (1, 2**31 - 1),
               "unsignedInt": (0, 2**31 - 1), "integer64": (-2**63, 2**63 - 1)}
MAX_STRING = 1024 * 1024  # R4 datatypes.html#string: strings SHALL NOT exceed 1 MB

# Grammars of value sets that cannot be enumerated (see gateway.services.valuesets.SYNTAX_ONLY).
_TOKEN = r"[A-Za-z0-9!#$&^_.+\-]+"
SYNTAX = {
    # BCP 13 / RFC 6838 media type, parameters allowed: "text/plain; charset=utf-8".
    "mimetype": re.compile(rf"{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=(\"[^\"]*\"|{_TOKEN}))*"),
    # BCP 47 language tag: primary subtag then subtags of up to 8 letters or digits.
    "language": re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*"),
    # ISO 4217 alphabetic currency code.
    "currency": re.compile(r"[A-Z]{3}"),
}
_SYNTAX_NAMES = {"mimetype": "a BCP 13 mime type", "language": "a BCP 47 language tag",
                 "currency": "an ISO 4217 currency code"}


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
        # json.loads accepts NaN and Infinity; JSON (RFC 8259) and FHIR decimals do not.
        return None if math.isfinite(value) else f"must be a finite number, got {value!r}"
    if kind not in _STRINGS:
        return None
    if not isinstance(value, str):
        return f"must be a JSON string, got {value!r}"
    return _check_string(kind, value)


def _check_string(kind: str, value: str) -> str | None:
    # R4 json.html: no empty values; datatypes.html#string: strings SHOULD have non-whitespace
    # content, since whitespace may be trimmed to nothing (which is invalid).
    if value == "" or (kind in ("string", "markdown") and not value.strip()):
        return "must not be empty (R4 json.html: no empty values)"
    if len(value) > MAX_STRING:
        return "is longer than 1 MB (R4 datatypes.html#string)"
    if kind == "base64Binary":
        try:
            base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            return "is not valid base64"
        return None
    if kind == "xhtml":
        # R4 narrative.html#xhtml: the root is a <div> in the XHTML namespace.
        head = value.lstrip()[:200]
        if not head.startswith("<div") or "http://www.w3.org/1999/xhtml" not in head.split(">")[0]:
            return 'must be a <div xmlns="http://www.w3.org/1999/xhtml"> element'
        return None
    pattern = _COMPILED.get(kind)
    if pattern is not None and not pattern.fullmatch(value):
        return f"{value!r} is not a valid FHIR {kind}"
    if kind in _DATED and len(value) >= 10 and not _real_day(value):
        return f"{value!r} is not a real calendar date"
    return None


def _real_day(value: str) -> bool:
    try:
        date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return False
    return True


def check_syntax(grammar: str, value: str) -> str | None:
    """None if `value` matches the named grammar of a non-enumerable value set."""
    if SYNTAX[grammar].fullmatch(value):
        return None
    return f"{value!r} is not {_SYNTAX_NAMES[grammar]}"


# R4 references.html#literal: relative "Type/id", optionally "/_history/vid", or an absolute
# URL whose tail has that shape (RESTful), or a local "#id", or "urn:uuid:" inside a Bundle.
_ID = r"[A-Za-z0-9\-.]{1,64}"
_RELATIVE = re.compile(rf"([A-Z][A-Za-z]+)/({_ID})(/_history/{_ID})?")
_ABSOLUTE = re.compile(r"https?://[^\s/]+(/\S*)?")
_ABSOLUTE_TAIL = re.compile(rf"/([A-Z][A-Za-z]+)/({_ID})(/_history/{_ID})?$")
_URN_UUID = re.compile(r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def parse_reference(reference: str) -> tuple[str, str | None]:
    """(form, target type) of a Reference.reference; form is one of 'relative', 'absolute',
    'local', 'urn' or 'invalid'. The target type is None when the form does not show it."""
    if reference.startswith("#"):
        return "local", None
    if reference.startswith("urn:uuid:"):
        return ("urn" if _URN_UUID.fullmatch(reference) else "invalid"), None
    match = _RELATIVE.fullmatch(reference)
    if match:
        return "relative", match.group(1)
    if _ABSOLUTE.fullmatch(reference):
        tail = _ABSOLUTE_TAIL.search(reference)
        return "absolute", tail.group(1) if tail else None
    return "invalid", None
