"""FHIRPath invariants from the toolkit's own copy of the R4 StructureDefinitions."""
from __future__ import annotations

from conformance.validators.invariants import DEFINITIONS, validate


def test_definitions_are_the_toolkits_own_copy():
    assert DEFINITIONS.parts[-2:] == ("conformance", "definitions")
    assert (DEFINITIONS / "StructureDefinition-Patient.json").is_file()


def test_pat_1_on_a_contact_and_nested_bundle_resources_are_checked():
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"fullUrl": "http://x/fhir/Patient/1", "resource": {"resourceType": "Patient", "contact": [{"gender": "male"}]},
         "search": {"mode": "match"}}]}
    errors = [f for f in validate([bundle], ["b"]) if f.severity == "error"]
    assert [(f.path, f.message.split(":")[0]) for f in errors] == [("Bundle.entry[0].resource.contact[0]", "pat-1")]


def test_bundle_rules_that_use_percent_resource_are_evaluated():
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"fullUrl": "http://x/fhir/Patient/1", "resource": {"resourceType": "Patient"},
                         "request": {"method": "GET", "url": "Patient/1"}}]}
    keys = {f.message.split(":")[0] for f in validate([bundle]) if f.severity == "error"}
    assert keys == {"bdl-3"}  # entry.request is prohibited outside batch/transaction/history


def test_document_bundle_needs_a_date_via_has_value():
    keys = {f.message.split(":")[0] for f in validate([{"resourceType": "Bundle", "type": "document"}])}
    assert {"bdl-9", "bdl-10"} <= keys
    assert not any("could not be evaluated" in f.message for f in validate([{"resourceType": "Bundle", "type": "document"}]))


def test_warnings_are_warnings():
    findings = validate([{"resourceType": "Patient"}])
    assert [(f.severity, f.message.split(":")[0]) for f in findings] == [("warning", "dom-6")]
