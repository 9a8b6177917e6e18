"""Matching and non-matching search values for a resource, derived from the official R4
SearchParameter definitions (conformance/definitions/SearchParameter-*.json).

May import: fhirpathpy, stdlib. The parameter's FHIRPath expression is evaluated on the resource
the server returned; the value found is turned into a query value by the parameter's type (FHIR
R4 search.html: token `system|code` (3.1.1.4.10), string prefix match (3.1.1.4.13), date
prefixes (3.1.1.4.3), reference `Type/id` (3.1.1.4.12)). `.where(resolve() is X)` cannot be
evaluated without a server, so it is replaced by keeping only references to type X.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from fhirpathpy import evaluate
from fhirpathpy.models import models

DEFINITIONS = Path(__file__).resolve().parent.parent / "definitions"
_RESOLVE = re.compile(r"\.where\(resolve\(\) is ([A-Za-z]+)\)")
_CONTACT_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}


@dataclass(frozen=True)
class Probe:
    """Values for one parameter: `match` (list: repeated = AND) finds the resource, `miss` not."""
    match: list[str]
    miss: list[str]


@lru_cache(maxsize=1)
def _definitions() -> dict[tuple[str, str], tuple[str, str]]:
    """(base type, code) -> (search type, expression) for every copied SearchParameter."""
    out = {}
    for path in DEFINITIONS.glob("SearchParameter-*.json"):
        sp = json.loads(path.read_text(encoding="utf-8"))
        for base in sp.get("base", []):
            if "expression" in sp:
                out[(base, sp["code"])] = (sp["type"], sp["expression"])
    return out


def definition(rtype: str, code: str) -> tuple[str, str] | None:
    found = _definitions()
    return found.get((rtype, code)) or found.get(("DomainResource", code)) or found.get(("Resource", code))


def values(rtype: str, code: str, resource: dict) -> tuple[str, list] | None:
    """(search type, values the parameter's expression yields on the resource)."""
    found = definition(rtype, code)
    if found is None:
        return None
    ptype, expression = found
    out: list = []
    for part in expression.split("|"):
        part = _unwrap(part.strip())
        if not part.startswith((f"{rtype}.", "Resource.", "DomainResource.")):
            continue
        target = _RESOLVE.search(part)
        part = _RESOLVE.sub("", part).replace("Resource.", f"{rtype}.", 1).replace("Domain" + rtype, rtype)
        for value in evaluate(resource, part, {}, models["r4"]):
            if target is None or _reference_type(value) == target.group(1):
                out.append(value)
    return ptype, out


def _unwrap(part: str) -> str:
    """Drop parentheses around the whole expression part: "(A.b.where(c))" -> "A.b.where(c)"."""
    while part.startswith("(") and part.endswith(")"):
        depth = 0
        for char in part[1:-1]:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                return part
        part = part[1:-1].strip()
    return part


def references(rtype: str, code: str, resource: dict) -> list[str]:
    """`Type/id` of every reference the (reference) parameter reads from the resource."""
    found = values(rtype, code, resource)
    if found is None or found[0] != "reference":
        return []
    return [ref for ref in (_relative(v) for v in found[1]) if ref]


def probe(rtype: str, code: str, resource: dict, run_id: str) -> Probe | None:
    """A matching and a non-matching query value; None when the resource gives no usable value."""
    found = values(rtype, code, resource)
    if found is None or not found[1]:
        return None
    ptype, items = found
    maker = {"token": _token, "string": _string, "date": _date, "reference": _reference,
             "uri": _uri}.get(ptype)
    for item in items:
        made = maker(item, run_id) if maker else None
        if made is not None:
            return made
    return None


def _token(value, run_id: str) -> Probe | None:
    if isinstance(value, bool):
        return Probe(["true" if value else "false"], ["false" if value else "true"])
    if isinstance(value, str):
        return Probe([value], [f"no-match-{run_id}"])
    if not isinstance(value, dict):
        return None
    if "coding" in value:
        return next((p for p in (_token(c, run_id) for c in value["coding"]) if p), None)
    if "code" in value:
        system = value.get("system")
        return Probe([f"{system}|{value['code']}" if system else value["code"]],
                     [f"{system}|no-match-{run_id}" if system else f"no-match-{run_id}"])
    if "value" in value:
        system = value.get("system")
        if system and system not in _CONTACT_SYSTEMS:  # an Identifier, not a ContactPoint
            return Probe([f"{system}|{value['value']}"], [f"{system}|no-match-{run_id}"])
        return Probe([str(value["value"])], [f"no-match-{run_id}"])
    return None


def _uri(value, run_id: str) -> Probe | None:
    """R4 search.html#uri: the whole URI matches, a longer one does not."""
    return Probe([value], [f"{value}/no-match-{run_id}"]) if isinstance(value, str) else None


def _string(value, run_id: str) -> Probe | None:
    if isinstance(value, dict):  # HumanName or Address: the family name / first line, else any text
        text = value.get("family") or (value.get("given") or [None])[0] or value.get("text") \
            or value.get("postalCode") or value.get("city")
    else:
        text = value
    if not isinstance(text, str) or not text:
        return None
    # the default string search matches a prefix, case- and accent-insensitively (3.1.1.4.13)
    return Probe([text[: max(3, len(text) - 2)].lower()], [f"zq{run_id}"])


def _date(value, run_id: str) -> Probe | None:
    text = value.get("start") if isinstance(value, dict) else value
    if not isinstance(text, str) or len(text) < 10:
        return None
    day = date.fromisoformat(text[:10])
    if len(text) == 10:
        return Probe([f"eq{text}"], [f"lt{text}"])
    # a day either side keeps any time zone reading of the instant inside the range
    return Probe([f"ge{day - timedelta(days=1)}", f"le{day + timedelta(days=1)}"],
                 [f"lt{day - timedelta(days=1)}"])


def _reference(value, run_id: str) -> Probe | None:
    ref = _relative(value)
    if ref is None:
        return None
    return Probe([ref], [f"{ref.split('/')[0]}/no-match-{run_id}"])


def _relative(value) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(ref, str) or ref.startswith("#") or ref.startswith("urn:"):
        return None
    parts = ref.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


def _reference_type(value) -> str | None:
    ref = _relative(value)
    return ref.split("/")[0] if ref else None
