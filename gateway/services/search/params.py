"""Parsing search query parameters into typed criteria (R4 search.html).

May import: gateway.resources, gateway.errors, gateway.services.search.values, stdlib.
Repeated parameters AND together, comma-separated values OR together ("\\," escapes a comma)
(R4 search.html#combining). Every refusal is a BadRequest naming the offending parameter.
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

_SP = "http://hl7.org/fhir/SearchParameter/"
# R4 search.html#all: parameters every resource type has, served from the resources table.
COMMON = {"_id": SearchParam("_id", "token", (), definition=_SP + "Resource-id"),
          "_lastUpdated": SearchParam("_lastUpdated", "date", (), definition=_SP + "Resource-lastUpdated")}
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")  # R4 search.html#prefix
_MODIFIERS = {"token": {"", "not", "missing"}, "string": {"", "exact", "contains", "missing"},
              "date": {"", "missing"}, "reference": {"", "missing"},
              "uri": {"", "missing"}}
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
IGNORED = {"_format", "_pretty"}  # not search parameters (R4 http.html#parameters)
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

    def sort_signature(self) -> str:
        """What a page token is bound to: a token from another sort order is refused."""
        return ",".join(("-" if d else "") + c for c, d in self.sort)


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


def _parse_values(name: str, param: SearchParam, modifier: str, raw: str) -> tuple:
    values = split_values(raw)
    if not values:
        raise BadRequest(f"Search parameter {name} has no value", expression=(name,))
    if modifier == "missing":  # R4 search.html#missing
        if raw not in ("true", "false"):
            raise BadRequest(f"{name} takes true or false, got {raw!r}", expression=(name,))
        return (raw == "true",)
    if param.type == "token":
        return tuple(_token(v) for v in values)
    if param.type == "uri":  # R4 search.html#uri: the whole value, never split at "|"
        return tuple((None, v) for v in values)
    if param.type == "date":
        return tuple(_date(name, v) for v in values)
    return tuple(values)


def _check_modifier(raw_name: str, param: SearchParam, modifier: str) -> None:
    if param.type == "reference" and _TYPE_NAME.match(modifier):
        # A type modifier, e.g. subject:Patient=123 (R4 search.html#reference)
        if param.targets and modifier not in param.targets:
            raise BadRequest(f"{raw_name}: {param.code} cannot refer to a {modifier} "
                             f"(targets: {', '.join(param.targets)})", expression=(raw_name,))
        return
    if modifier not in _MODIFIERS.get(param.type, {""}) or (param.code in COMMON and modifier == "missing"):
        raise BadRequest(f"Modifier :{modifier} is not supported on {param.code} ({param.type})",
                         expression=(raw_name,))


def _int(name: str, value: str, low: int) -> int:
    if not value.isdigit() or int(value) < low:
        raise BadRequest(f"{name} must be an integer >= {low}, got {value!r}", expression=(name,))
    return int(value)


def _include(name: str, value: str, known) -> tuple[str, str, str | None]:
    """R4 search.html#include: Source:param[:TargetType], param being a reference parameter."""
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise BadRequest(f"{name}={value!r} must be Type:param[:TargetType]", expression=(name,))
    source = known.get(parts[0])
    param = source.param(parts[1]) if source else None
    if param is None or param.type != "reference":
        raise BadRequest(f"{name}={value!r}: {parts[1]!r} is not a reference parameter of "
                         f"{parts[0]}", expression=(name,))
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _valid_cursor(cursor) -> bool:
    return (isinstance(cursor, dict) and isinstance(cursor.get("k"), list)
            and all(isinstance(cursor.get(k), int) and not isinstance(cursor.get(k), bool)
                    for k in ("pk", "m", "v"))
            and cursor.get("d") in ("n", "p") and isinstance(cursor.get("s"), str))


def decode_cursor(value: str) -> dict:
    try:
        cursor = json.loads(base64.urlsafe_b64decode(value.encode() + b"==="))
    except ValueError:  # bad base64, bad UTF-8 or bad JSON
        cursor = None
    if not _valid_cursor(cursor):
        raise BadRequest("_page is not a page token this server issued", expression=("_page",))
    return cursor


def encode_cursor(cursor: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":"), default=str)
                                    .encode()).decode().rstrip("=")


def _sort(request: SearchRequest, value: str, rtype: ResourceType) -> None:
    """R4 search.html#sort: comma-separated params, "-" for descending."""
    for key in split_values(value):
        code = key[1:] if key.startswith("-") else key
        param = rtype.param(code) or COMMON.get(code)
        if param is None or not (param.sortable or code in COMMON):
            raise BadRequest(f"_sort by {code!r} is not supported for {rtype.name}",
                             expression=("_sort",))
        request.sort.append((code, key.startswith("-")))


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadRequest(f"{name}={value!r} is not supported ({', '.join(allowed)})",
                         expression=(name,))
    return value


def _result_param(request: SearchRequest, name: str, value: str, rtype: ResourceType, known,
                  max_count: int) -> None:
    if name == "_count":
        request.count = min(_int(name, value, 0), max_count)
        value = str(request.count)  # links carry the page size actually served
    elif name == "_sort":
        _sort(request, value, rtype)
    elif name == "_summary":  # R4 search.html#summary
        request.summary = _choice(name, value, ("true", "false", "count", "data"))
    elif name == "_elements":
        request.elements += split_values(value)
    elif name == "_total":
        request.total = _choice(name, value, ("none", "estimate", "accurate"))
    elif name == "_include":
        request.includes.append(_include(name, value, known))
    elif name == "_revinclude":
        request.revincludes.append(_include(name, value, known))
    elif name == "_page":
        request.cursor = decode_cursor(value)
        return  # never echoed into links: the link generator adds its own
    request.kept.append((name, value))


def parse_search(rtype: ResourceType, params: list[tuple[str, str]], known: dict, *,
                 default_count: int, max_count: int) -> SearchRequest:
    request = SearchRequest(count=min(default_count, max_count))
    for raw_name, value in params:
        name, _, modifier = raw_name.partition(":")
        if raw_name in IGNORED:
            continue
        if name in RESULT_PARAMS:
            # "_include:iterate" is read as a plain _include (one level, R4 #revinclude)
            _result_param(request, name, value, rtype, known, max_count)
            continue
        param = rtype.param(name) or COMMON.get(name)
        if param is None:
            request.unknown.append(raw_name)
            continue
        _check_modifier(raw_name, param, modifier)
        request.criteria.append(Criterion(param, modifier, _parse_values(raw_name, param, modifier, value)))
        request.kept.append((raw_name, value))
    if request.cursor is not None and request.cursor["s"] != request.sort_signature():
        raise BadRequest("_page belongs to a search with another _sort", expression=("_page",))
    return request
