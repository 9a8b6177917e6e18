"""Strict validation: every rule has a case that passes and a case that must fail."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.errors import BadRequest, InvalidResource
from gateway.services.validation import references_in, validate_bundle_envelope, validate_resource

DATA = Path(__file__).resolve().parent.parent / "data"
EXAMPLES = sorted((DATA / "fhir-r4-examples").glob("*.json"))
GOOD = {"resourceType": "Patient", "active": True, "birthDate": "1980-02-03", "gender": "male",
        "name": [{"family": "Doe", "given": ["Jo"]}],
        "telecom": [{"system": "phone", "value": "555-0101", "use": "home"}]}


def rejects(body, expression, **kwargs):
    with pytest.raises(InvalidResource) as info:
        validate_resource(body, **kwargs)
    paths = [e for issue in info.value.issues for e in issue.expression]
    assert expression in paths, paths
    return info.value


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_official_examples_are_valid(path):
    body = json.loads(path.read_text())
    assert validate_resource(body) is body


def test_valid_resource_is_returned_untouched():
    body = json.loads(json.dumps(GOOD))
    assert validate_resource(body, "Patient") == GOOD


@pytest.mark.parametrize("change, expression", [
    ({"active": "yes"}, "Patient.active"),
    ({"active": 1}, "Patient.active"),
    ({"birthDate": 19800203}, "Patient.birthDate"),
    ({"birthDate": "1980-13-01"}, "Patient.birthDate"),
    ({"birthDate": "03/02/1980"}, "Patient.birthDate"),
    ({"multipleBirthInteger": "2"}, "Patient.multipleBirthInteger"),
    ({"multipleBirthInteger": 2.5}, "Patient.multipleBirthInteger"),
    ({"name": [{"family": 5}]}, "Patient.name[0].family"),
    ({"name": {"family": "x"}}, "Patient.name"),
    ({"name": []}, "Patient.name"),
    ({"name": [{}]}, "Patient.name[0]"),
    ({"name": [{"family": ""}]}, "Patient.name[0].family"),
    ({"gender": None}, "Patient.gender"),
    ({"shoeSize": 9}, "Patient.shoeSize"),
])
def test_no_coercion_and_no_unknown_or_empty_elements(change, expression):
    rejects(dict(GOOD, **change), expression)


@pytest.mark.parametrize("body, expression", [
    (dict(GOOD, gender="M"), "Patient.gender"),
    (dict(GOOD, telecom=[{"system": "cell", "value": "1"}]), "Patient.telecom[0].system"),
    (dict(GOOD, name=[{"use": "nick", "family": "x"}]), "Patient.name[0].use"),
    ({"resourceType": "Appointment", "status": "confirmed",
      "participant": [{"status": "accepted", "actor": {"display": "x"}}]}, "Appointment.status"),
    ({"resourceType": "Coverage", "status": "valid", "beneficiary": {"reference": "Patient/1"},
      "payor": [{"display": "x"}]}, "Coverage.status"),
])
def test_required_bindings_are_checked(body, expression):
    rejects(body, expression)


def test_required_binding_codes_match_the_r4_code_systems():
    from gateway.services.validation import _fields
    for field_owner, element, system in [("Patient", "gender", "administrative-gender"),
                                         ("Appointment", "status", "appointmentstatus"),
                                         ("AppointmentParticipant", "status", "participationstatus"),
                                         ("Coverage", "status", "fm-status"),
                                         ("DocumentReference", "status", "document-reference-status")]:
        codes = json.loads((DATA / "fhir-r4-definitions" / f"CodeSystem-{system}.json").read_text())
        expected = {c["code"] for c in codes["concept"]}
        assert set(_fields(field_owner)[element].enum) == expected, element


@pytest.mark.parametrize("reference, ok", [
    ("Organization/org-1", True), ("Organization/org-1/_history/2", True),
    ("https://other.example/fhir/Organization/7", True), ("Patient/1", False),
    ("Organization/", False), ("not a reference", False), ("#missing", False),
    ("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", False),
])
def test_reference_syntax_and_target_type(reference, ok):
    body = dict(GOOD, managingOrganization={"reference": reference})
    if ok:
        validate_resource(body)
    else:
        rejects(body, "Patient.managingOrganization.reference")


def test_urn_uuid_allowed_only_in_transactions():
    body = dict(GOOD, managingOrganization={"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"})
    assert validate_resource(body, allow_urn_refs=True) is body


def test_type_checks():
    with pytest.raises(InvalidResource):
        validate_resource([GOOD])
    with pytest.raises(InvalidResource):
        validate_resource({"name": []})
    with pytest.raises(InvalidResource):
        validate_resource(dict(GOOD, resourceType="Spaceship"))
    with pytest.raises(InvalidResource):
        validate_resource(GOOD, "Coverage")


def test_choice_type_conflict_is_caught_by_the_model():
    rejects(dict(GOOD, deceasedBoolean=True, deceasedDateTime="2020"), "Patient")


def test_references_in_lists_every_reference_with_its_path():
    body = {"resourceType": "Appointment", "participant": [
        {"actor": {"reference": "Patient/1"}}, {"actor": {"reference": "Practitioner/2"}}],
        "contained": [{"resourceType": "Patient", "managingOrganization": {"reference": "Organization/x"}}]}
    assert references_in(body) == [("Appointment.participant[0].actor", "Patient/1"),
                                   ("Appointment.participant[1].actor", "Practitioner/2")]


def test_bundle_envelope():
    ok = {"resourceType": "Bundle", "type": "transaction",
          "entry": [{"resource": GOOD, "request": {"method": "POST", "url": "Patient"}}]}
    assert validate_bundle_envelope(ok) is ok
    with pytest.raises(BadRequest):
        validate_bundle_envelope(dict(ok, type="collection"))
    with pytest.raises(InvalidResource):
        validate_bundle_envelope(dict(ok, entry=[{"request": {"method": "POST", "url": "Patient"}}]))
    with pytest.raises(InvalidResource):
        validate_bundle_envelope(dict(ok, entry=[{"resource": GOOD, "request": {"method": "FETCH"}}]))


def test_fhirpath_invariants_from_the_r4_definitions_are_enforced():
    appointment = {"resourceType": "Appointment", "status": "booked", "start": "2026-01-01T09:00:00Z",
                   "participant": [{"status": "accepted", "actor": {"display": "Dr X"}}]}
    error = rejects(appointment, "Appointment")
    assert {i.diagnostics.split(": ")[1] for i in error.issues} == {"app-2", "app-3"}
    rejects(dict(GOOD, contact=[{"gender": "male"}]), "Patient.contact[0]")
    validate_resource(dict(appointment, end="2026-01-01T09:20:00Z"))
