"""Known false positives are set aside narrowly (validator AND path AND message), with a reason."""
from __future__ import annotations

from conformance.validators.findings import Finding
from conformance.validators.known_issues import KNOWN_ISSUES, split


def test_only_a_finding_matching_validator_path_and_message_is_set_aside():
    schema_bug = Finding("fhir.schema.json", "metadata", "fhirVersion", "'4.0.1' is not one of ['0.01', '4.0.0']")
    other_problem_same_path = Finding("fhir.schema.json", "metadata", "fhirVersion", "5 is not of type 'string'")
    same_message_other_path = Finding("fhir.schema.json", "x", "version", "'4.0.1' is not one of ['4.0.0']")
    same_message_other_validator = Finding("fhir.js", "metadata", "fhirVersion", "'4.0.1' is not one of ['4.0.0']")
    real_code_error = Finding("fhir.schema.json", "p", "gender", "'M' is not one of ['male']")
    real, known = split([schema_bug, other_problem_same_path, same_message_other_path,
                         same_message_other_validator, real_code_error])
    assert [(f, issue.key) for f, issue in known] == [(schema_bug, "schema-fhirversion-4.0.1")]
    assert real == [other_problem_same_path, same_message_other_path, same_message_other_validator, real_code_error]


def test_dom_3_is_set_aside_only_for_the_fhirpathpy_evaluation_error():
    unevaluated = Finding("fhirpath", "d", "DocumentReference",
                          "dom-3: could not be evaluated (ValueError: Expected singleton on left side of 'as', got [..])")
    broken_rule = Finding("fhirpath", "d", "DocumentReference",
                          "dom-3: If the resource is contained in another resource, it SHALL be referred to")
    other_rule_unevaluated = Finding("fhirpath", "d", "DocumentReference", "dom-2: could not be evaluated (ValueError: x)")
    real, known = split([unevaluated, broken_rule, other_rule_unevaluated])
    assert [f for f, _issue in known] == [unevaluated]
    assert real == [broken_rule, other_rule_unevaluated]


def test_every_known_issue_gives_a_reason_and_narrow_patterns():
    for issue in KNOWN_ISSUES:
        assert len(issue.reason) > 60
        assert issue.validator.startswith("^") and issue.path and issue.message.startswith("^")
