"""Index extraction: the search index values of one resource, from its SearchParam paths.

May import: gateway.resources, gateway.store.indexes, gateway.services.search.values, stdlib.
Pure and fast: it runs on every create and update. Paths are simple element paths with an
optional filter, e.g. "name.family", "participant.actor", "telecom[system=phone]".
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from gateway.resources import SearchParam, resource_types
from gateway.services.search.values import MAX_LEN, date_range, normalize, parse_reference
from gateway.store.indexes import IndexRows

_MIN, _MAX = datetime(1, 1, 1), datetime(9999, 12, 31)  # open ends of a Period
_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_CONTACT_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


@lru_cache(maxsize=None)
def _compile(path: str) -> tuple[tuple[str, tuple[str, str] | None], ...]:
    steps = []
    for segment in path.split("."):
        if "[" in segment:
            name, condition = segment[:-1].split("[", 1)
            key, value = condition.split("=", 1)
            steps.append((name, (key, value)))
        else:
            steps.append((segment, None))
    return tuple(steps)


def values_at(resource: dict, path: str) -> list:
    current = [resource]
    for name, condition in _compile(path):
        found = []
        for item in current:
            if not isinstance(item, dict) or name not in item:
                continue
            value = item[name]
            found.extend(value if isinstance(value, list) else [value])
        if condition is not None:
            key, wanted = condition
            found = [v for v in found if isinstance(v, dict) and v.get(key) == wanted]
        current = found
    return current


def _tokens(value) -> list[tuple[str | None, str]]:
    if isinstance(value, bool):
        return [(None, "true" if value else "false")]
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:  # CodeableConcept (text alone is not a token: no :text support)
        return [t for coding in value["coding"] for t in _tokens(coding)]
    if "code" in value:  # Coding
        return [(value.get("system"), value["code"])]
    if "value" in value:
        if value.get("system") in _CONTACT_SYSTEMS:  # ContactPoint: matches on the value only
            return [(None, str(value["value"]))]
        return [(value.get("system"), str(value["value"]))]  # Identifier
    return []


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, dict):
        return []
    parts = _NAME_PARTS if ("family" in value or "given" in value) else _ADDRESS_PARTS
    out = []
    for part in parts:
        item = value.get(part)
        out.extend(item if isinstance(item, list) else [item] if item else [])
    return [s for s in out if isinstance(s, str)]


def _dates(value):
    if isinstance(value, str):
        bounds = date_range(value)
        return [bounds] if bounds else []
    if isinstance(value, dict) and ("start" in value or "end" in value):  # Period
        low = date_range(value["start"])[0] if value.get("start") else None
        high = date_range(value["end"])[1] if value.get("end") else None
        return [(low or _MIN, high or _MAX)]
    return []


def _add(rows: dict, param: SearchParam, value) -> None:
    if param.type == "token":
        rows["tokens"] += [(param.code, s[:MAX_LEN] if s else None, c[:MAX_LEN]) for s, c in _tokens(value)]
    elif param.type == "string":
        rows["strings"] += [(param.code, normalize(s), s[:MAX_LEN]) for s in _strings(value)]
    elif param.type == "date":
        rows["dates"] += [(param.code, low, high) for low, high in _dates(value)]
    elif param.type == "reference" and isinstance(value, dict) and isinstance(value.get("reference"), str):
        rtype, rid, url = parse_reference(value["reference"])
        if param.targets and rtype not in param.targets:
            return
        if rtype or url:
            rows["references"].append((param.code, rtype, rid, url))


def extract_index(resource_type: str, resource: dict) -> IndexRows:
    """All index values of `resource` for the search parameters of its type."""
    facts = resource_types().get(resource_type)
    rows: dict[str, list] = {"tokens": [], "strings": [], "dates": [], "references": []}
    if facts is not None:
        for param in facts.search_params:
            for path in param.paths:
                for value in values_at(resource, path):
                    _add(rows, param, value)
    return IndexRows(tokens=tuple(dict.fromkeys(rows["tokens"])),
                     strings=tuple(dict.fromkeys(rows["strings"])),
                     dates=tuple(dict.fromkeys(rows["dates"])),
                     references=tuple(dict.fromkeys(rows["references"])))
