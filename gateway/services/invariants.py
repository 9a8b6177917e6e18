"""FHIRPath invariants (pat-1, app-1..4, ...) from the official R4 StructureDefinitions,
evaluated with fhirpathpy on every incoming resource: the rules the models do not check.

May import: fhirpathpy, stdlib. Only constraints of severity `error` on the resource's own
elements are evaluated; the generic ele-1/dom-*/ext-* rules are covered by the strict JSON walk
(no empty elements) and the models. Expressions are compiled once per type (cached). An
expression fhirpathpy cannot evaluate is reported as a problem, never passed silently.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from fhirpathpy import compile as compile_path

DEFINITIONS = Path(__file__).resolve().parent.parent / "fhirdefs"
_GENERIC = ("ele-", "dom-", "ext-")


@lru_cache(maxsize=32)
def rules(resource_type: str) -> tuple:
    path = DEFINITIONS / f"StructureDefinition-{resource_type}.json"
    if not path.exists():
        return ()
    definition = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for element in definition["snapshot"]["element"]:
        for constraint in element.get("constraint", []):
            if constraint.get("severity") == "error" and not constraint["key"].startswith(_GENERIC):
                out.append((constraint["key"], element["path"], constraint["human"],
                            compile_path(constraint["expression"])))
    return tuple(out)


def _contexts(resource: dict, path: str) -> list[tuple[str, object]]:
    """(FHIRPath with indexes, node) for every instance of the element `path`."""
    nodes: list[tuple[str, object]] = [(path.split(".")[0], resource)]
    for step in path.split(".")[1:]:
        nxt = []
        for where, node in nodes:
            value = node.get(step) if isinstance(node, dict) else None
            if isinstance(value, list):
                nxt += [(f"{where}.{step}[{i}]", v) for i, v in enumerate(value)]
            elif value is not None:
                nxt.append((f"{where}.{step}", value))
        nodes = nxt
    return nodes


def broken(resource: dict) -> list[tuple[str, str, str]]:
    """(invariant key, element path, human text) for each invariant the resource breaks."""
    out = []
    for key, path, human, rule in rules(str(resource.get("resourceType"))):
        for where, node in _contexts(resource, path):
            try:
                result = rule(node)
            except Exception as exc:  # noqa: BLE001 - report, never pass silently
                out.append((key, where, f"could not be evaluated ({type(exc).__name__})"))
                continue
            if result == [False]:
                out.append((key, where, human))
    return out
