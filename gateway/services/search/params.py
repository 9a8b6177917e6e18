"""Parsing search query parameters into typed criteria (R4 search.html).

May import: gateway.resources, gateway.errors, gateway.services.search.values, stdlib.
Repeated parameters AND together, comma-separated values OR together ("\\," escapes a comma).
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from gateway.errors import BadRequest
from gateway.resources import ResourceType, SearchParam
from gateway.services.search.values import date_range

COMMON = {"_id": SearchParam("_id", "token", ()), "_lastUpdated": SearchParam("_lastUpdated", "date", ())}
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
_MODIFIERS = {"token": {"", "not"}, "string": {"", "exact", "contains"},
              "date": {""}, "reference": {""}}
IGNORED = {"_format", "_pretty"}
RESULT_PARAMS = {"_count", "_sort", "_summary", "_elements", "_total", "_include",
                 "_revinclude", "_page"}


@dataclass(frozen=True)
class Criterion:
    """One parameter occurrence: param, modifier and its OR-ed values (parsed per type)."""

    param: SearchParam
    modifier: str
    values: tuple


@dataclass
class SearchRequest:
    criteria: list[Criterion] = field(default_factory=list)
    count: int = 20
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (param code, descending)
    summary: str | None = None
    elements: list[str] = field(default_factory=list)
    total: str = "accurate"
    includes: list[tuple[str, str, str | None]] = field(default_factory=list)
    revincludes: list[tuple[str, str, str | None]] = field(default_factory=list)
    cursor: dict | None = None
    unknown: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # understood params, for links


def split_values(raw: str) -> list[str]:
    return [v.replace("\\,", ",") for v in re.split(r"(?<!\\),", raw) if v != ""]


def _token(value: str) -> tuple[str | None, str | None]:
    """'code' -> (None, code) any system; 'sys|code'; '|code' -> ('', code); 'sys|' -> (sys, None)."""
    if "|" not in value:
        return None, value
    system, code = value.split("|", 1)
    return system, code or None


def _date(name: str, value: str) -> tuple[str, datetime, datetime]:
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    text = value[2:] if value[:2] in _PREFIXES else value
    bounds = date_range(text)
    if bounds is None:
        raise BadRequest(f"{name}={value!r} is not a valid FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or "
                         "a dateTime with zone), optionally prefixed by eq|ne|lt|gt|le|ge|sa|eb",
                         expression=(name,))
    return prefix, bounds[0], bounds[1]


def _parse_values(name: str, param: SearchParam, raw: str) -> tuple:
    values = split_values(raw)
    if not values:
        raise BadRequest(f"Search parameter {name} has no value", expression=(name,))
    if param.type == "token":
        return tuple(_token(v) for v in values)
    if param.type == "date":
        return tuple(_date(name, v) for v in values)
    return tuple(values)


def _int(name: str, value: str, low: int) -> int:
    if not value.isdigit() or int(value) < low:
        raise BadRequest(f"{name} must be an integer >= {low}, got {value!r}", expression=(name,))
    return int(value)


def _include(name: str, value: str, rtype: ResourceType | None, known) -> tuple[str, str, str | None]:
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise BadRequest(f"{name}={value!r} must be Type:param[:TargetType]", expression=(name,))
    source = known.get(parts[0])
    param = source.param(parts[1]) if source else None
    if param is None or param.type != "reference":
        raise BadRequest(f"{name}={value!r}: {parts[1]!r} is not a reference parameter of "
                         f"{parts[0]}", expression=(name,))
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def decode_cursor(value: str) -> dict:
    try:
        cursor = json.loads(base64.urlsafe_b64decode(value.encode() + b"==="))
        assert isinstance(cursor, dict) and {"k", "pk", "m", "d"} <= set(cursor)
        return cursor
    except Exception:  # noqa: BLE001 - any malformed page token is the client's error
        raise BadRequest("_page is not a page token this server issued", expression=("_page",)) from None


def encode_cursor(cursor: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":"), default=str)
                                    .encode()).decode().rstrip("=")


def _result_param(request: SearchRequest, name: str, value: str, rtype: ResourceType, known,
                  max_count: int) -> None:
    if name == "_count":
        request.count = min(_int(name, value, 0), max_count)
    elif name == "_sort":
        for key in split_values(value):
            code = key.lstrip("-")
            param = rtype.param(code) or COMMON.get(code)
            if param is None or not (param.sortable or code in COMMON):
                raise BadRequest(f"_sort by {code!r} is not supported for {rtype.name}",
                                 expression=("_sort",))
            request.sort.append((code, key.startswith("-")))
    elif name == "_summary":
        if value not in ("true", "false", "count", "data"):
            raise BadRequest(f"_summary={value!r} is not supported (true, false, count, data)",
                             expression=("_summary",))
        request.summary = value
    elif name == "_elements":
        request.elements += split_values(value)
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise BadRequest("_total must be none, estimate or accurate", expression=("_total",))
        request.total = value
    elif name == "_include":
        request.includes.append(_include(name, value, rtype, known))
    elif name == "_revinclude":
        request.revincludes.append(_include(name, value, rtype, known))
    elif name == "_page":
        request.cursor = decode_cursor(value)
        return  # never echoed into links: the link generator adds its own
    request.kept.append((name, value))


def parse_search(rtype: ResourceType, params: list[tuple[str, str]], known: dict, *,
                 default_count: int, max_count: int) -> SearchRequest:
    request = SearchRequest(count=default_count)
    for raw_name, value in params:
        name, _, modifier = raw_name.partition(":")
        if raw_name in IGNORED:
            continue
        if name in RESULT_PARAMS:
            _result_param(request, name, value, rtype, known, max_count)
            continue
        param = rtype.param(name) or COMMON.get(name)
        if param is None:
            request.unknown.append(raw_name)
            continue
        if param.type == "reference" and modifier and modifier in known:
            pass  # a type modifier, e.g. subject:Patient=123 (R4 search.html#reference)
        elif modifier not in _MODIFIERS.get(param.type, {""}):
            raise BadRequest(f"Modifier :{modifier} is not supported on {name} ({param.type})",
                             expression=(raw_name,))
        request.criteria.append(Criterion(param, modifier, _parse_values(raw_name, param, value)))
        request.kept.append((raw_name, value))
    return request
