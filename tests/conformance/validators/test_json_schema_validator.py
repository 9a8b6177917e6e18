"""The official FHIR JSON Schema really runs: it catches bad codes, wrong types and unknown
elements at their path, and passes the official examples."""
from __future__ import annotations

import json
from pathlib import Path

from conformance.validators.json_schema import validate

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "data" / "fhir-r4-examples").glob("*.json"))


def test_official_examples_pass():
    findings = validate([json.loads(p.read_text()) for p in EXAMPLES])
    assert findings == []


def test_bad_code_wrong_type_and_unknown_element_are_caught_at_their_path():
    findings = validate([{"resourceType": "Patient", "gender": "M"},
                         {"resourceType": "Patient", "active": "yes"},
                         {"resourceType": "Patient", "shoeSize": 9},
                         {"resourceType": "Spaceship"}])
    paths = {(f.index, f.path) for f in findings}
    assert (0, "gender") in paths and (1, "active") in paths
    assert any(f.index == 2 and "shoeSize" in f.message for f in findings)
    assert any(f.index == 3 and f.path == "resourceType" for f in findings)
