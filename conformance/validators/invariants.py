"""FHIRPath invariants (pat-1, app-2, app-3, ...) from the official R4 StructureDefinitions,
evaluated with fhirpathpy: the rules none of the schema validators checks.

May import: fhirpathpy, stdlib, conformance.validators.node (Finding). Only constraints of
severity `error` on the resource's own elements are evaluated; the generic ele-1/dom-* rules
are left to the schema and model validators (they need the whole element tree and add no
resource-specific rule). An expression fhirpathpy cannot run is reported as such, never
silently passed.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from fhirpathpy import compile as compile_path

from conformance.validators.node import Finding

DEFINITIONS = Path(__file__).resolve().parent.parent / "definitions"
_GENERIC = ("ele-", "dom-", "ext-")


@lru_cache(maxsize=32)
def _rules(resource_type: str) -> tuple:
    path = DEFINITIONS / f"StructureDefinition-{resource_type}.json"
    if not path.exists():
        return ()
    definition = json.loads(path.read_text(encoding="utf-8"))
    rules = []
    for element in definition["snapshot"]["element"]:
        for constraint in element.get("constraint", []):
            if constraint.get("severity") != "error" or constraint["key"].startswith(_GENERIC):
                continue
            context = element["path"]
            rules.append((constraint["key"], context, constraint["human"],
                          compile_path(constraint["expression"])))
    return tuple(rules)


def _contexts(resource: dict, path: str) -> list:
    nodes = [resource]
    for step in path.split(".")[1:]:
        nodes = [v for n in nodes if isinstance(n, dict) for v in (
            n.get(step) if isinstance(n.get(step), list) else [n.get(step)]) if v is not None]
    return nodes


def validate(resources: list[dict]) -> list[Finding]:
    findings: list[Finding] = []
    for index, resource in enumerate(resources):
        for key, context, human, rule in _rules(str(resource.get("resourceType"))):
            for node in _contexts(resource, context):
                try:
                    result = rule(node)
                except Exception as exc:  # noqa: BLE001 - report, never pass silently
                    findings.append(Finding("fhirpath", index, context, f"{key}: could not evaluate ({exc})"))
                    continue
                if result == [False]:
                    findings.append(Finding("fhirpath", index, context, f"{key}: {human}"))
    return findings
