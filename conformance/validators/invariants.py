"""FHIRPath invariants (pat-1, app-2, app-3, bdl-3, dom-2, ...) from the official R4
StructureDefinitions in conformance/definitions, evaluated with fhirpathpy: the rules none of
the schema, model or Node validators check.

May import: fhirpathpy, stdlib, conformance.validators.findings. This evaluator is the toolkit's
own (not the gateway's), so a bug in the implementation under test cannot hide itself.
Constraints are read from each type's snapshot; `ele-1` and `ext-1` (defined on every element of
every type) are left to the schema and model validators. An `error` constraint that is false is
an error finding, a `warning` one (e.g. dom-6, narrative) a warning finding. An expression
fhirpathpy cannot evaluate is reported as an error, never passed silently. Resources inside
Bundle entries and `contained` are checked against their own type's rules.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from fhirpathpy import compile as compile_path
from fhirpathpy.models import models

from conformance.validators.findings import Finding, refs_for

NAME = "fhirpath"
DEFINITIONS = Path(__file__).resolve().parent.parent / "definitions"
_EVERY_ELEMENT = ("ele-1", "ext-1")


def _has_value(inputs: list) -> list[bool]:
    # FHIR R4 FHIRPath extension function hasValue() (fhirpath.html#functions): true when the
    # input is a single primitive that carries a value; fhirpathpy lacks it (bdl-10 uses it)
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], (dict, list))]


# dom-3 calls trace('unmatched'); fhirpathpy would print every trace to stdout
_OPTIONS = {"userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}},
            "traceFn": lambda _label, _value: None}


@lru_cache(maxsize=64)
def rules(resource_type: str) -> tuple | None:
    """(key, element path, severity, human, compiled) per constraint; None for an unknown type."""
    path = DEFINITIONS / f"StructureDefinition-{resource_type}.json"
    if not path.is_file():
        return None
    definition = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for element in definition["snapshot"]["element"]:
        for constraint in element.get("constraint", []):
            if constraint["key"] in _EVERY_ELEMENT or "expression" not in constraint:
                continue
            out.append((constraint["key"], element["path"], constraint["severity"], constraint["human"],
                        compile_path(constraint["expression"], models["r4"], _OPTIONS)))
    return tuple(out)


def _nodes(resource: dict, path: str) -> list[tuple[str, object]]:
    """(path with indexes, node) for every instance of the element `path` in the resource."""
    nodes: list[tuple[str, object]] = [(path.split(".")[0], resource)]
    for step in path.split(".")[1:]:
        following = []
        for where, node in nodes:
            value = node.get(step) if isinstance(node, dict) else None
            if isinstance(value, list):
                following += [(f"{where}.{step}[{i}]", v) for i, v in enumerate(value)]
            elif value is not None:
                following.append((f"{where}.{step}", value))
        nodes = following
    return nodes


def _inner(resource: dict, prefix: str) -> Iterator[tuple[str, dict]]:
    """The resource itself and every resource nested in Bundle entries or `contained`."""
    yield prefix, resource
    for i, entry in enumerate(resource.get("entry", []) if resource.get("resourceType") == "Bundle" else []):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            yield from _inner(entry["resource"], f"{prefix}.entry[{i}].resource")
    for i, contained in enumerate(resource.get("contained", [])):
        if isinstance(contained, dict):
            yield from _inner(contained, f"{prefix}.contained[{i}]")


def _check(ref: str, prefix: str, resource: dict) -> list[Finding]:
    rtype = str(resource.get("resourceType"))
    found = rules(rtype)
    if found is None:
        return [Finding(NAME, ref, prefix, f"no R4 StructureDefinition for {rtype!r} in the toolkit: "
                        "its invariants were not checked", "warning")]
    out = []
    env = {"resource": resource, "rootResource": resource}
    for key, element, severity, human, rule in found:
        for where, node in _nodes(resource, element):
            path = prefix + where[len(rtype):]
            try:
                result = rule(node, env)
            except Exception as exc:  # noqa: BLE001 - an unevaluated rule is reported, not passed
                out.append(Finding(NAME, ref, path, f"{key}: could not be evaluated ({type(exc).__name__}: {str(exc)[:80]})"))
                continue
            if result == [False]:
                out.append(Finding(NAME, ref, path, f"{key}: {human}", severity))
    return out


def validate(resources: Sequence[dict], refs: Sequence[str] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for ref, resource in zip(refs_for(resources, refs), resources):
        if not isinstance(resource, dict):
            findings.append(Finding(NAME, ref, "(resource)", "not a JSON object"))
            continue
        for prefix, inner in _inner(resource, str(resource.get("resourceType"))):
            findings += _check(ref, prefix, inner)
    return findings
