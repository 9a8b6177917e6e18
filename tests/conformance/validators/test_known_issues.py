"""Known false positives are set aside narrowly, with their reason; nothing else is."""
from __future__ import annotations

from conformance.validators.known_issues import split
from conformance.validators.node import Finding


def test_only_the_listed_pattern_is_set_aside():
    schema_bug = Finding("fhir.schema.json", 0, "fhirVersion", "'4.0.1' is not one of ['4.0.0']")
    other_version_problem = Finding("fhir.schema.json", 0, "fhirVersion", "'x' is not of type 'string'")
    real_code_error = Finding("fhir.schema.json", 1, "gender", "'M' is not one of ['male']")
    same_message_other_validator = Finding("fhir.js", 0, "fhirVersion", "'4.0.1' is not one of ['4.0.0']")
    real, known = split([schema_bug, other_version_problem, real_code_error, same_message_other_validator])
    assert [f for f, _reason in known] == [schema_bug]
    assert "4.0.0" in known[0][1]
    assert real == [other_version_problem, real_code_error, same_message_other_validator]
