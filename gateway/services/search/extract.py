"""Index extraction: the search index values of one resource, from its SearchParam paths.

May import: gateway.resources, gateway.store.indexes, gateway.services.search.values,
gateway.services.patient_features, stdlib.
Pure and fast: it runs on every create and update. Paths are simple element paths with an
optional filter, e.g. "name.family", "participant.actor", "telecom[system=phone]"; a date path
"start~end" reads two sibling elements as one range. Values are cut to the index columns'
length (MAX_LEN) so that a long value can never make a write fail.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from gateway.resources import SearchParam, resource_types
from gateway.services.patient_features import MATCH_PARAM, blocking_keys
from gateway.services.search.values import MAX_LEN, date_range, normalize, parse_reference
from gateway.store.indexes import IndexRows

_MIN, _MAX = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)  # open Period ends
# R4 search.html#string: a HumanName matches on family, given, prefix, suffix and text; an
# Address on its line, city, district, state, postalCode, country and text.
_STRING_PARTS = ("family", "given", "prefix", "suffix", "text", "line", "city", "district",
                 "state", "postalCode", "country")
_CONTACT_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}


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
    """The values at a simple element path (lists flattened, bracket filters applied)."""
    current = [resource]
    for name, condition in _compile(path):
        found = []
        for item in current:
            if isinstance(item, dict) and name in item:
                value = item[name]
                found.extend(value if isinstance(value, list) else (value,))
        if condition is not None:
            key, wanted = condition
            found = [v for v in found if isinstance(v, dict) and v.get(key) == wanted]
        current = found
    return current


def _tokens(value, code_system: str) -> list[tuple[str | None, str]]:
    """(system, code) pairs per R4 search.html#token, by the datatype of the value."""
    if isinstance(value, bool):
        return [(None, "true" if value else "false")]
    if isinstance(value, str):  # code: its system is implicit from the required binding
        return [(code_system or None, value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:  # CodeableConcept (text alone is not a token: no :text support)
        return [t for coding in value["coding"] for t in _tokens(coding, "")]
    if "code" in value:  # Coding
        return [(value.get("system"), value["code"])] if isinstance(value["code"], str) else []
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
    out = []
    for part in _STRING_PARTS:
        item = value.get(part)
        if isinstance(item, list):
            out.extend(s for s in item if isinstance(s, str))
        elif isinstance(item, str):
            out.append(item)
    return out


def _bound(text, side: int) -> datetime | None:
    bounds = date_range(text) if isinstance(text, str) else None
    return bounds[side] if bounds else None


def _dates(value) -> list[tuple[datetime, datetime]]:
    if isinstance(value, str):
        bounds = date_range(value)
        return [bounds] if bounds else []
    if isinstance(value, dict) and ("start" in value or "end" in value):  # Period
        return [(_bound(value.get("start"), 0) or _MIN, _bound(value.get("end"), 1) or _MAX)]
    return []


def _range_dates(resource: dict, path: str) -> list[tuple[datetime, datetime]]:
    """A "start~end" path: the two elements as one Period; without an end, the start's own
    precision bounds it (an Appointment with only a start is the moment it starts)."""
    first, second = path.split("~", 1)
    start = next(iter(values_at(resource, first)), None)
    end = next(iter(values_at(resource, second)), None)
    low, high = _bound(start, 0), _bound(end, 1) or _bound(start, 1)
    if low is None and high is None:
        return []
    return [(low or _MIN, high or _MAX)]


def _add(rows: dict, param: SearchParam, value) -> None:
    code = param.code
    if param.type == "token":
        rows["tokens"] += [(code, s[:MAX_LEN] if s else None, c[:MAX_LEN])
                           for s, c in _tokens(value, param.code_system)]
    elif param.type == "string":
        rows["strings"] += [(code, normalize(s), s[:MAX_LEN]) for s in _strings(value)]
    elif param.type == "uri" and isinstance(value, str):  # exact match: a token without system
        rows["tokens"].append((code, None, value[:MAX_LEN]))
    elif param.type == "date":
        rows["dates"] += [(code, low, high) for low, high in _dates(value)]
    elif param.type == "reference" and isinstance(value, dict) and isinstance(value.get("reference"), str):
        rtype, rid, url = parse_reference(value["reference"])
        if param.targets and rtype not in param.targets:
            return
        if rtype or url:
            rows["references"].append((code, rtype, rid, url))


def extract_index(resource_type: str, resource: dict) -> IndexRows:
    """All index values of `resource` for the search parameters of its type (deduplicated)."""
    facts = resource_types().get(resource_type)
    rows: dict[str, list] = {"tokens": [], "strings": [], "dates": [], "references": []}
    if facts is not None:
        for param in facts.search_params:
            for path in param.paths:
                if "~" in path:
                    rows["dates"] += [(param.code, lo, hi) for lo, hi in _range_dates(resource, path)]
                    continue
                for value in values_at(resource, path):
                    _add(rows, param, value)
    if resource_type == "Patient":  # the duplicate matcher's blocking keys, kept in step
        rows["tokens"] += [(MATCH_PARAM, None, key) for key in blocking_keys(resource)]
    return IndexRows(tokens=tuple(dict.fromkeys(rows["tokens"])),
                     strings=tuple(dict.fromkeys(rows["strings"])),
                     dates=tuple(dict.fromkeys(rows["dates"])),
                     references=tuple(dict.fromkeys(rows["references"])))
