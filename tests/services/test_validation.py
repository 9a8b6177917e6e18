"""Strict validation (gateway.services.validation): every rule has a case that passes and a case
that must fail, with the FHIRPath expression of the problem."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from gateway.errors import BadRequest, InvalidResource
from gateway.services.validation import (SUPPORTED_TYPES, references_in, validate_bundle_envelope,
                                         validate_resource)

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "data" / "fhir-r4-examples").glob("**/*.json"))
CORE4 = ("Patient", "Appointment", "Coverage", "DocumentReference")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_official_examples_pass_and_come_back_untouched(path):
    body = json.loads(path.read_text())
    before = copy.deepcopy(body)
    assert validate_resource(body) is body
    assert body == before


def test_every_corpus_example_of_the_core_types_is_here():
    names = {p.name.split("-")[0] for p in EXAMPLES}
    assert set(CORE4) <= names and len([p for p in EXAMPLES if p.name.startswith(CORE4)]) == 22


def test_supported_types():
    assert SUPPORTED_TYPES == {"Patient", "Appointment", "Coverage", "DocumentReference", "Binary",
                               "CoverageEligibilityRequest", "CoverageEligibilityResponse",
                               "AuditEvent", "Subscription", "Bundle"}


# Rule 1: the body and its resourceType.
@pytest.mark.parametrize("body, expected", [
    ([{"resourceType": "Patient"}], None), ("Patient", None), (None, None),
    ({"name": [{"family": "x"}]}, None), ({"resourceType": 7}, None),
    ({"resourceType": "Spaceship"}, None), ({"resourceType": "Observation", "status": "final"}, None),
    ({"resourceType": "Coverage"}, "Patient"),
])
def test_body_and_resource_type_are_checked(body, expected):
    with pytest.raises(InvalidResource) as info:
        validate_resource(body, expected)
    assert info.value.status == 400


def test_expected_type_matches(valid_patient):
    assert validate_resource(valid_patient, "Patient") is valid_patient
    with pytest.raises(InvalidResource) as info:
        validate_resource(valid_patient, "Coverage")
    assert info.value.issues[0].expression == ("Patient.resourceType",)


# Rule 2: no coercion, JSON shapes, no empty/null/unknown elements.
@pytest.mark.parametrize("change, expression", [
    ({"active": "yes"}, "Patient.active"),
    ({"active": 1}, "Patient.active"),
    ({"birthDate": 19800203}, "Patient.birthDate"),
    ({"birthDate": "1980-13-01"}, "Patient.birthDate"),
    ({"birthDate": "1980-02-30"}, "Patient.birthDate"),
    ({"birthDate": "03/02/1980"}, "Patient.birthDate"),
    ({"birthDate": "1980-02-03T10:00:00Z"}, "Patient.birthDate"),
    ({"deceasedDateTime": "2020-01-01T10:00:00"}, "Patient.deceasedDateTime"),
    ({"multipleBirthInteger": "2"}, "Patient.multipleBirthInteger"),
    ({"multipleBirthInteger": 2.5}, "Patient.multipleBirthInteger"),
    ({"multipleBirthInteger": True}, "Patient.multipleBirthInteger"),
    ({"id": "has space"}, "Patient.id"),
    ({"id": "x" * 65}, "Patient.id"),
    ({"name": [{"family": 5}]}, "Patient.name[0].family"),
    ({"name": {"family": "x"}}, "Patient.name"),
    ({"name": [{"family": ["x"]}]}, "Patient.name[0].family"),
    ({"name": []}, "Patient.name"),
    ({"name": [{}]}, "Patient.name[0]"),
    ({"name": [{"family": ""}]}, "Patient.name[0].family"),
    ({"name": [{"family": "   "}]}, "Patient.name[0].family"),
    ({"name": [{"given": ["Jo", None]}]}, "Patient.name[0].given[1]"),
    ({"gender": None}, "Patient.gender"),
    ({"shoeSize": 9}, "Patient.shoeSize"),
    ({"name": [{"family": "x", "nickname": "y"}]}, "Patient.name[0].nickname"),
    ({"_shoeSize": {"id": "a"}}, "Patient._shoeSize"),
    ({"_birthDate": {}}, "Patient._birthDate"),
    ({"_birthDate": {"colour": "red"}}, "Patient._birthDate.colour"),
    ({"text": {"status": "generated", "div": "<p>hello</p>"}}, "Patient.text.div"),
    ({"photo": [{"data": "not base64!"}]}, "Patient.photo[0].data"),
    ({"photo": [{"size": -1}]}, "Patient.photo[0].size"),
    ({"meta": {"lastUpdated": "2020-01-01"}}, "Patient.meta.lastUpdated"),
])
def test_no_coercion_and_no_unknown_or_empty_elements(valid_patient, rejects, change, expression):
    rejects(dict(valid_patient, **change), expression)


@pytest.mark.parametrize("change", [
    {"birthDate": "1980"}, {"birthDate": "1980-02"}, {"deceasedDateTime": "2020-01-01T10:00:00+01:00"},
    {"multipleBirthInteger": 2}, {"photo": [{"data": "aGVsbG8=", "size": 5}]},
    {"_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                                   "valueDateTime": "1980-02-03T10:00:00Z"}]}},
    {"name": [{"given": ["Jo", None], "_given": [None, {"id": "g2"}]}]},
    {"meta": {"lastUpdated": "2020-01-01T00:00:00.123Z", "versionId": "3"}},
    {"text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Jo</div>'}},
])
def test_well_formed_values_pass(valid_patient, change):
    body = dict(valid_patient, **change)
    assert validate_resource(body) is body


def test_primitive_arrays_and_their_extensions_line_up(valid_patient, rejects):
    rejects(dict(valid_patient, name=[{"given": ["Jo"], "_given": [None, {"id": "x"}]}]),
            "Patient.name[0].given")
    rejects(dict(valid_patient, name=[{"given": ["Jo", None], "_given": [None, None]}]),
            "Patient.name[0].given[1]")


def test_every_problem_is_reported_not_just_the_first(valid_patient):
    body = dict(valid_patient, active="yes", birthDate=1980, colour="red")
    with pytest.raises(InvalidResource) as info:
        validate_resource(body)
    assert {e for i in info.value.issues for e in i.expression} == {
        "Patient.active", "Patient.birthDate", "Patient.colour"}
    assert all(i.severity == "error" and i.diagnostics for i in info.value.issues)
    assert {i.code for i in info.value.issues} == {"value", "structure"}


# Rule 3: the fhir.resources model, with its locations mapped to FHIRPath and clear wording.
def test_model_rules_map_to_fhirpath_with_clear_wording(valid_patient, rejects):
    error = rejects(dict(valid_patient, link=[{"type": "seealso"}]), "Patient.link[0].other")
    assert error.issues[0].code == "required"
    assert "required" in error.issues[0].diagnostics
    error = rejects(dict(valid_patient, deceasedBoolean=True, deceasedDateTime="2020"), "Patient")
    assert "only one of deceasedBoolean, deceasedDateTime" in error.issues[0].diagnostics
    error = rejects({"resourceType": "Coverage", "status": "active", "payor": [{"display": "x"}]},
                    "Coverage.beneficiary")
    assert "Type" not in error.issues[0].diagnostics and "pydantic" not in error.issues[0].diagnostics


# Rule 5: references.
@pytest.mark.parametrize("reference, ok", [
    ("Organization/org-1", True), ("Organization/org-1/_history/2", True),
    ("https://other.example/fhir/Organization/7", True), ("https://other.example/org/7", True),
    ("Patient/1", False), ("https://other.example/fhir/Patient/7", False),
    ("Organization/", False), ("Organization/a b", False), ("Organization/1/_history/", False),
    ("Organisation/1", False), ("HumanName/1", False), ("not a reference", False),
    ("ftp://x.example/Organization/1", False), ("#missing", False),
    ("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", False),
])
def test_reference_syntax_and_target_type(valid_patient, rejects, reference, ok):
    body = dict(valid_patient, managingOrganization={"reference": reference})
    if ok:
        assert validate_resource(body) is body
    else:
        rejects(body, "Patient.managingOrganization.reference")


def test_general_practitioner_cannot_point_at_a_patient(valid_patient, rejects):
    body = dict(valid_patient, generalPractitioner=[{"reference": "Practitioner/p1"}])
    validate_resource(body)
    rejects(dict(valid_patient, generalPractitioner=[{"reference": "Practitioner/p1"}, {"reference": "Patient/2"}]),
            "Patient.generalPractitioner[1].reference")
    rejects(dict(valid_patient, generalPractitioner=[{"reference": "Practitioner/p1", "type": "Organization"}]),
            "Patient.generalPractitioner[0].type")


def test_urn_uuid_only_when_the_caller_allows_it(valid_patient, rejects):
    urn = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"
    body = dict(valid_patient, managingOrganization={"reference": urn})
    assert validate_resource(body, allow_urn_refs=True) is body
    rejects(dict(valid_patient, managingOrganization={"reference": "urn:uuid:not-a-uuid"}),
            "Patient.managingOrganization.reference", allow_urn_refs=True)


def test_local_references_point_at_contained_resources(valid_patient, rejects):
    org = {"resourceType": "Organization", "id": "o1", "name": "Clinic"}
    body = dict(valid_patient, contained=[org], managingOrganization={"reference": "#o1"})
    assert validate_resource(body) is body
    rejects(dict(body, managingOrganization={"reference": "#o2"}), "Patient.managingOrganization.reference")
    rejects(dict(valid_patient, contained=[org]), "Patient.contained[0]")  # dom-3: never referenced
    # dom-3 is also met when the contained resource points back at its container with "#".
    provenance = {"resourceType": "Provenance", "id": "p1", "target": [{"reference": "#"}],
                  "recorded": "2020-01-01T00:00:00Z", "agent": [{"who": {"display": "Front desk"}}]}
    body = dict(valid_patient, contained=[provenance])
    assert validate_resource(body) is body


@pytest.mark.parametrize("contained, expression", [
    ({"resourceType": "Organization", "name": "x"}, "Patient.contained[0].id"),
    ({"resourceType": "Spaceship", "id": "o1"}, "Patient.contained[0]"),
    ({"resourceType": "Organization", "id": "o1", "meta": {"versionId": "2"}}, "Patient.contained[0].meta"),
    ({"resourceType": "Organization", "id": "o1", "contained": [{"resourceType": "Organization", "id": "o2"}]},
     "Patient.contained[0].contained"),
    ({"resourceType": "Organization", "id": "o1", "active": "yes"}, "Patient.contained[0].active"),
])
def test_contained_resources_are_checked(valid_patient, rejects, contained, expression):
    rejects(dict(valid_patient, contained=[contained], managingOrganization={"reference": "#o1"}), expression)


def test_references_in_lists_every_reference_with_its_path():
    body = {"resourceType": "Appointment", "participant": [
        {"actor": {"reference": "Patient/1"}}, {"actor": {"reference": "Practitioner/2"}},
        {"actor": {"display": "no reference"}}],
        "basedOn": [{"reference": "ServiceRequest/9"}],
        "contained": [{"resourceType": "Patient", "managingOrganization": {"reference": "Organization/x"}}]}
    assert references_in(body) == [("Appointment.participant[0].actor", "Patient/1"),
                                   ("Appointment.participant[1].actor", "Practitioner/2"),
                                   ("Appointment.basedOn[0]", "ServiceRequest/9")]


def test_references_in_skips_resources_nested_in_a_bundle():
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Coverage", "beneficiary": {"reference": "Patient/1"}}}]}
    assert references_in(bundle) == []


# Rule 7: batch/transaction envelopes.
def _bundle(*entries, kind="transaction"):
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def test_bundle_envelope_accepts_batch_and_transaction(valid_patient):
    post = {"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", "resource": valid_patient,
            "request": {"method": "POST", "url": "Patient"}}
    get = {"request": {"method": "GET", "url": "Patient?name=Doe"}}
    delete = {"request": {"method": "DELETE", "url": "Patient/1"}}
    for kind in ("transaction", "batch"):
        body = _bundle(post, get, delete, kind=kind)
        assert validate_bundle_envelope(body) is body
    empty = {"resourceType": "Bundle", "type": "batch"}
    assert validate_bundle_envelope(empty) is empty


@pytest.mark.parametrize("entry, expression", [
    ({"request": {"method": "POST", "url": "Patient"}}, "Bundle.entry[0].resource"),
    ({"resource": {"resourceType": "Patient"}, "request": {"method": "FETCH", "url": "Patient"}},
     "Bundle.entry[0].request.method"),
    ({"resource": {"resourceType": "Patient"}, "request": {"method": "POST"}}, "Bundle.entry[0].request"),
    ({"resource": {"resourceType": "Patient"}}, "Bundle.entry[0].request"),
    ({"resource": {"resourceType": "Coverage"}, "request": {"method": "PUT", "url": "Patient/1"}},
     "Bundle.entry[0].resource"),
    ({"resource": {"resourceType": "Spaceship"}, "request": {"method": "POST", "url": "Spaceship"}},
     "Bundle.entry[0].resource"),
    ({"request": {"method": "GET", "url": ""}}, "Bundle.entry[0].request.url"),
    ({"request": {"method": "GET", "url": "Patient", "colour": "red"}}, "Bundle.entry[0].request.colour"),
    ("not an entry", "Bundle.entry[0]"),
])
def test_bundle_envelope_refuses_bad_entries(entry, expression):
    with pytest.raises(InvalidResource) as info:
        validate_bundle_envelope(_bundle(entry))
    assert expression in [e for i in info.value.issues for e in i.expression]


def test_bundle_envelope_refuses_other_bundles_and_duplicate_full_urls(valid_patient):
    with pytest.raises(BadRequest):
        validate_bundle_envelope(_bundle(kind="collection"))
    with pytest.raises(InvalidResource):
        validate_bundle_envelope(valid_patient)
    with pytest.raises(InvalidResource):
        validate_bundle_envelope(dict(_bundle(), entry={}))
    entry = {"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", "resource": valid_patient,
             "request": {"method": "POST", "url": "Patient"}}
    with pytest.raises(InvalidResource) as info:
        validate_bundle_envelope(_bundle(entry, entry))
    assert info.value.issues[0].expression == ("Bundle.entry[1].fullUrl",)


def test_bundle_envelope_leaves_entry_resources_to_the_caller(valid_patient):
    # The envelope does not walk entry resources: the caller validates each one with
    # allow_urn_refs=True, so a bad entry resource is found there, with its own paths.
    bad = dict(valid_patient, active="yes")
    body = _bundle({"resource": bad, "request": {"method": "POST", "url": "Patient"}})
    assert validate_bundle_envelope(body) is body
    with pytest.raises(InvalidResource):
        validate_resource(bad, "Patient", allow_urn_refs=True)
