"""The Node validators really run: each catches what it is meant to catch, and passes good data."""
from __future__ import annotations

import json
from pathlib import Path

from conformance.validators.node import validate_batch

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "fhir-r4-examples"


def _by(findings, index):
    out = {}
    for f in findings:
        if f.index == index:
            out.setdefault(f.validator, []).append(f)
    return out


def test_each_node_validator_catches_a_bad_code_and_an_unknown_element_and_passes_examples():
    good = [json.loads((EXAMPLES / name).read_text()) for name in
            ("Patient-example.json", "Appointment-example.json", "Coverage-9876B1.json")]
    bad_code = {"resourceType": "Patient", "gender": "M"}
    unknown = {"resourceType": "Patient", "shoeSize": 9}
    findings = validate_batch([bad_code, unknown] + good)
    code = _by(findings, 0)
    assert any(f.path == "Patient.gender" for f in code["fhir.js"])
    assert any(f.path == "gender" for f in code["asymmetrik"])
    assert any("Unexpected property" in f.message for f in _by(findings, 1)["fhir.js"])
    assert _by(findings, 1)["asymmetrik"]
    for index in range(2, 2 + len(good)):
        assert _by(findings, index) == {}, _by(findings, index)
