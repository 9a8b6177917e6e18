"""The profile schema (translators/profile.schema.json) and the load-time reference checks in
translators/profile.py: every shipped profile passes, and a broken copy of one is refused with a
ProfileError naming the file, the JSON path and the problem."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from translators.dialects.vendor_transforms import TRANSFORMS
from translators.profile import PROFILE_DIR, SCHEMA_PATH, parse_profile, profile_files
from translators.transforms import TO_FHIR, TO_V2
from translators.types import ProfileError

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
HL7V2 = "hl7v2-generic@2.5.1-1.3.0"
OPENEMR = "openemr-standard@7.0.0-1.0.0"
INTAKE = "sandbox-rest-intake@1.1.0"
ELIG = "sandbox-rest-intake@1.4.0"


def _data(key: str) -> dict:
    return yaml.safe_load((PROFILE_DIR / f"{key}.yaml").read_text(encoding="utf-8"))


def _refused(data: dict, key: str) -> str:
    """The ProfileError text for `data` saved as broken/<key>.yaml (the name matches the content)."""
    source = f"broken/{key}.yaml"
    with pytest.raises(ProfileError) as info:
        parse_profile(yaml.safe_dump(data, sort_keys=False), source)
    text = str(info.value)
    assert all(line.startswith(f"{source}: $") for line in text.splitlines()), text
    return text


@pytest.mark.parametrize("path", list(profile_files()), ids=lambda p: p.name)
def test_every_shipped_profile_validates_unchanged(path: Path):
    profile = parse_profile(path.read_text(encoding="utf-8"), str(path))
    assert profile.key == path.stem
    if profile.dialect != "local":
        assert profile.dialect in profile.data


@pytest.mark.parametrize("path", list(profile_files()), ids=lambda p: p.name)
def test_fast_yaml_loader_reads_the_same_data_as_the_pure_python_one(path: Path):
    text = path.read_text(encoding="utf-8")
    assert parse_profile(text, str(path)).data == yaml.safe_load(text)


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_transform_names_in_the_schema_are_the_ones_the_code_knows():
    assert set(SCHEMA["$defs"]["v2Transform"]["enum"]) == set(TO_V2) == set(TO_FHIR)
    assert set(SCHEMA["$defs"]["restTransform"]["enum"]) == set(TRANSFORMS)


def _parent(data: dict, path: str):
    """(container, last step) for a dotted path like 'hl7v2.mappings.Patient.5.map'."""
    *steps, last = [int(s) if s.isdigit() else s for s in path.split(".")]
    node = data
    for step in steps:
        node = node[step]
    return node, last


def _set(path: str, value):
    def mutate(data: dict) -> None:
        node, last = _parent(data, path)
        node[last] = value
    return mutate


def _delete(path: str):
    def mutate(data: dict) -> None:
        node, last = _parent(data, path)
        del node[last]
    return mutate


def _rename(path: str, new: str):
    def mutate(data: dict) -> None:
        node, last = _parent(data, path)
        node[new] = node.pop(last)
    return mutate


BROKEN = [
    # --- top level
    ("top: misspelt key", HL7V2, _rename("description", "descripton"), "$", "'descripton' was unexpected"),
    ("top: hl7v2 section missing", HL7V2, _delete("hl7v2"), "$", "'hl7v2' is a required property"),
    ("top: rest section missing", INTAKE, _delete("rest"), "$", "'rest' is a required property"),
    ("top: misspelt resource key", HL7V2, _rename("resources.Patient.search_params", "search_param"),
     "$.resources.Patient", "'search_param' was unexpected"),
    # --- hl7v2
    ("hl7v2: misspelt section key", HL7V2, _rename("hl7v2.optional_segments", "optional_segment"),
     "$.hl7v2", "'optional_segment' was unexpected"),
    ("hl7v2: misspelt mapping key", HL7V2, _rename("hl7v2.mappings.Patient.5.map", "mapp"),
     "$.hl7v2.mappings.Patient[5]", "'mapp' was unexpected"),
    ("hl7v2: constant of wrong type", HL7V2, _set("hl7v2.constants.0.value", 1),
     "$.hl7v2.constants[0].value", "1 is not of type 'string'"),
    ("hl7v2: answers_queries not a boolean", HL7V2, _set("hl7v2.answers_queries", "yes"),
     "$.hl7v2.answers_queries", "'yes' is not of type 'boolean'"),
    ("hl7v2: unknown transform", HL7V2, _set("hl7v2.mappings.Patient.4.transform", "dat"),
     "$.hl7v2.mappings.Patient[4].transform", "'dat' is not one of ['date', 'datetime', 'phone', 'integer']"),
    ("hl7v2: unknown query transform", HL7V2, _set("hl7v2.query.Patient.params.birthdate.transform", "day"),
     "$.hl7v2.query.Patient.params.birthdate.transform", "'day' is not one of"),
    ("hl7v2: map names a missing value map", HL7V2, _set("hl7v2.mappings.Patient.5.map", "sex"),
     "$.hl7v2.mappings.Patient[5].map", "'sex' is not a value map in $.hl7v2.value_maps; known: appointment_status"),
    ("hl7v2: query param map names a missing value map", HL7V2,
     _set("hl7v2.query.Patient.params.gender.map", "genders"),
     "$.hl7v2.query.Patient.params.gender.map", "'genders' is not a value map"),
    ("hl7v2: value_maps_in extends a missing value map", HL7V2, _rename("hl7v2.value_maps_in.gender", "gendre"),
     "$.hl7v2.value_maps_in.gendre", "'gendre' is not a value map"),
    ("hl7v2: segment address without its dash", HL7V2, _set("hl7v2.mappings.Patient.0.v2", "PID5.1"),
     "$.hl7v2.mappings.Patient[0].v2", "'PID5.1' is not an HL7 v2 address like PID-5"),
    ("hl7v2: lower-case segment address", HL7V2, _set("hl7v2.mrn.v2", "pid-3"),
     "$.hl7v2.mrn.v2", "'pid-3' is not an HL7 v2 address"),
    ("hl7v2: field 0", HL7V2, _set("hl7v2.constants.0.v2", "PID-0"),
     "$.hl7v2.constants[0].v2", "'PID-0' is not an HL7 v2 address"),
    ("hl7v2: bad message code", HL7V2, _set("hl7v2.messages.Patient.create.code", "ADTX"),
     "$.hl7v2.messages.Patient.create.code", "'ADTX' is not an HL7 v2 message code like ADT"),
    ("hl7v2: bad structure name", HL7V2, _set("hl7v2.messages.Patient.create.structure", "ADT-A01"),
     "$.hl7v2.messages.Patient.create.structure", "'ADT-A01' is not an HL7 v2 message structure like ADT_A01"),
    ("hl7v2: unknown message interaction", HL7V2, _rename("hl7v2.messages.Patient.create", "creat"),
     "$.hl7v2.messages.Patient", "'creat' is not one of ['create', 'update', 'delete', 'merge']"),
    ("hl7v2: message structure not listed", HL7V2, _set("hl7v2.messages.Patient.create.structure", "ADT_A05"),
     "$.hl7v2.messages.Patient.create.structure", "'ADT_A05' is not a key of $.hl7v2.structures"),
    ("hl7v2: segment list not listed", HL7V2, _set("hl7v2.messages.Coverage.update.segments", "ADT_IN1"),
     "$.hl7v2.messages.Coverage.update.segments", "'ADT_IN1' is not a key of $.hl7v2.structures"),
    ("hl7v2: merge message without merge rule", HL7V2, _delete("hl7v2.merge"),
     "$.hl7v2.messages.Patient.merge", "a merge message needs $.hl7v2.merge"),
    ("hl7v2: message for an undeclared resource type", HL7V2, _delete("resources.DocumentReference"),
     "$.hl7v2.messages.DocumentReference", "'DocumentReference' is not a resource type in $.resources"),
    ("hl7v2: structure not opening with MSH", HL7V2, _set("hl7v2.structures.ADT_A39", ["EVN", "MSH", "PID", "MRG"]),
     "$.hl7v2.structures.ADT_A39[0]", "'MSH' was expected"),
    ("hl7v2: Z-segment not named Z..", HL7V2, _set("hl7v2.z_segments.carried", ["PV2"]),
     "$.hl7v2.z_segments.carried[0]", "'PV2' is not a Z-segment name"),
    ("hl7v2: fallback without map", HL7V2, _delete("hl7v2.mappings.Patient.14.map"),
     "$.hl7v2.mappings.Patient[14]", "'map' is a dependency of 'fallback'"),
    ("hl7v2: patient_ref without mrn", HL7V2, _delete("hl7v2.mrn"), "$.hl7v2", "'mrn' is a dependency of 'merge'"),
    ("hl7v2: bad QPD-3 field name", HL7V2, _set("hl7v2.query.Patient.params.family.field", "PID.5.1"),
     "$.hl7v2.query.Patient.params.family.field", "'PID.5.1' is not a QPD-3 field name like @PID.5.1"),
    ("hl7v2: bad FHIR path", HL7V2, _set("hl7v2.mappings.Patient.0.fhir", "name[0]..family"),
     "$.hl7v2.mappings.Patient[0].fhir", "'name[0]..family' is not a FHIR element path"),
    # --- rest
    ("rest: misspelt section key", INTAKE, _rename("rest.endpoints", "endpoint"),
     "$.rest", "'endpoint' was unexpected"),
    ("rest: misspelt record key", INTAKE, _rename("rest.records.Patient.mrn", "mnr"),
     "$.rest.records.Patient", "'mnr' was unexpected"),
    ("rest: misspelt mapping key", OPENEMR, _rename("rest.mappings.Patient.5.map", "value_map"),
     "$.rest.mappings.Patient[5]", "'value_map' was unexpected"),
    ("rest: parent.create not a boolean", INTAKE, _set("rest.records.Coverage.parent.create", "yes"),
     "$.rest.records.Coverage.parent.create", "'yes' is not of type 'boolean'"),
    ("rest: paging size not an integer", OPENEMR, _set("rest.search.Patient.next.size", "50"),
     "$.rest.search.Patient.next.size", "'50' is not of type 'integer'"),
    ("rest: unknown transform", OPENEMR, _set("rest.mappings.Appointment.2.transform", "local_datetime"),
     "$.rest.mappings.Appointment[2].transform", "'local_datetime' is not one of"),
    ("rest: map names a missing value map", INTAKE, _set("rest.mappings.Patient.4.map", "gender"),
     "$.rest.mappings.Patient[4].map", "'gender' is not a value map in $.rest.value_maps; known: appointment_status"),
    ("rest: JSON pointer without its slash", INTAKE, _set("rest.mappings.Patient.0.json", "first_name"),
     "$.rest.mappings.Patient[0].json", "'first_name' is not a JSON pointer (RFC 6901)"),
    ("rest: JSON pointer with a bare ~", INTAKE, _set("rest.records.Patient.id", "/id~x"),
     "$.rest.records.Patient.id", "'/id~x' is not a JSON pointer"),
    ("rest: bad pointer in a pointer list", OPENEMR,
     _set("rest.mappings.Appointment.2.json", ["/pc_eventDate", "pc_startTime"]),
     "$.rest.mappings.Appointment[2].json[1]", "'pc_startTime' is not a JSON pointer"),
    ("rest: pointer list without a transform", OPENEMR, _delete("rest.mappings.Appointment.2.transform"),
     "$.rest.mappings.Appointment[2]", "'transform' is a required property"),
    ("rest: bad error pointer", INTAKE, _set("rest.errors.code", "error.code"),
     "$.rest.errors.code", "'error.code' is not a JSON pointer"),
    ("rest: unknown HTTP method", INTAKE, _set("rest.endpoints.Patient.create.method", "FETCH"),
     "$.rest.endpoints.Patient.create.method", "'FETCH' is not one of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']"),
    ("rest: unknown path placeholder", INTAKE, _set("rest.endpoints.Patient.update.path", "/patients/{pid}"),
     "$.rest.endpoints.Patient.update.path",
     "'/patients/{pid}' is not a path from / with no placeholder but {id} and {parent}"),
    ("rest: unknown endpoint interaction", INTAKE, _rename("rest.endpoints.Patient.update", "put"),
     "$.rest.endpoints.Patient", "'put' is not one of"),
    ("rest: {parent} path without a parent rule", OPENEMR, _delete("rest.records.Appointment.parent"),
     "$.rest.endpoints.Appointment.create.path", "uses {parent} but $.rest.records.Appointment.parent is not declared"),
    ("rest: paging with half of each shape", INTAKE, _rename("rest.search.Patient.next.param", "page"),
     "$.rest.search.Patient.next", "'param' is a required property"),
    ("rest: ref and via on one line", OPENEMR, _set("rest.mappings.Coverage.0.via", "subscriber"),
     "$.rest.mappings.Coverage[0]", "a line takes its value by `ref` or by `via`, not both"),
    ("rest: endpoint for an undeclared resource type", INTAKE, _delete("resources.Appointment"),
     "$.rest.endpoints.Appointment", "'Appointment' is not a resource type in $.resources"),
    ("rest: a FHIR search parameter naming an unknown criterion", "sandbox-rest-intake@1.2.0",
     _set("rest.search.Patient.fhir.identifier", "chart"),
     "$.rest.search.Patient.fhir.identifier", "'chart' is not a criterion in $.rest.search.Patient.params"),
    ("rest: an event about a type the vendor cannot be read for", "sandbox-rest-intake@1.3.0",
     _set("rest.events.types.coverage_updated", {"type": "Coverage"}),
     "$.rest.events.types.coverage_updated.type", "'Coverage' is not a type with a read endpoint"),
    ("rest: an event naming a type the record does not carry", "sandbox-rest-intake@1.3.0",
     _set("rest.events.types.patient_merged", {"type": "Patient", "also": ["Encounter"]}),
     "$.rest.events.types.patient_merged.also", "'Encounter' is not a type with mappings"),
    ("rest: an unknown signature scheme", "sandbox-rest-intake@1.3.0",
     _set("rest.events.signature.scheme", "md5"), "$.rest.events.signature.scheme", "'md5' is not one of"),
    ("rest: events without the record pointer", "sandbox-rest-intake@1.3.0",
     _delete("rest.events.envelope.record"), "$.rest.events.envelope", "'record' is a required property"),
    # --- rest.eligibility
    ("eligibility: misspelt section key", ELIG, _rename("rest.eligibility.error_answers", "error_answer"),
     "$.rest.eligibility", "'error_answer' was unexpected"),
    ("eligibility: a GET call", ELIG, _set("rest.eligibility.endpoint.method", "GET"),
     "$.rest.eligibility.endpoint.method", "'GET' is not one of ['POST']"),
    ("eligibility: a placeholder in the path", ELIG, _set("rest.eligibility.endpoint.path", "/eligibility/{id}"),
     "$.rest.eligibility.endpoint.path", "'/eligibility/{id}' is not a path from / without placeholders"),
    ("eligibility: each on a ref line", ELIG, _set("rest.eligibility.request.0.each", True),
     "$.rest.eligibility.request[0]", "`each` reads the request's own values"),
    ("eligibility: request map names a missing value map", ELIG, _set("rest.eligibility.request.4.map", "purposes"),
     "$.rest.eligibility.request[4].map", "'purposes' is not a value map in $.rest.value_maps"),
    ("eligibility: request ref to an undeclared type", ELIG, _set("rest.eligibility.request.0.ref", "Claim"),
     "$.rest.eligibility.request[0].ref", "'Claim' is not a resource type in $.resources"),
    ("eligibility: nested list map names a missing value map", ELIG,
     _set("rest.eligibility.response.lists.0.lists.0.lines.0.map", "benefit"),
     "$.rest.eligibility.response.lists[0].lists[0].lines[0].map", "'benefit' is not a value map"),
    ("eligibility: unknown transform in a nested list", ELIG,
     _set("rest.eligibility.response.lists.0.lists.0.lines.1.transform", "money"),
     "$.rest.eligibility.response.lists[0].lists[0].lines[1].transform", "'money' is not one of"),
    ("eligibility: a list path ending in an index", ELIG,
     _set("rest.eligibility.response.lists.0.fhir", "insurance[0].item[0]"),
     "$.rest.eligibility.response.lists[0].fhir", "a FHIR element path without an index on its last step"),
    ("eligibility: misspelt block key", ELIG, _rename("rest.eligibility.response.lists.0.constants", "constant"),
     "$.rest.eligibility.response.lists[0]", "'constant' was unexpected"),
    ("eligibility: a response line with a ref", ELIG, _set("rest.eligibility.response.lines.0.ref", "Patient"),
     "$.rest.eligibility.response.lines[0]", "'ref' was unexpected"),
    ("eligibility: error_answers without error_system", ELIG, _delete("rest.eligibility.error_system"),
     "$.rest.eligibility", "'error_system' is a dependency of 'error_answers'"),
    ("eligibility: error_system not a URI", ELIG, _set("rest.eligibility.error_system", "eligibility errors"),
     "$.rest.eligibility.error_system", "'eligibility errors' is not an absolute URI"),
    ("eligibility: error_answers without rest.errors", ELIG, _delete("rest.errors"),
     "$.rest.eligibility.error_answers", "$.rest.errors is needed"),
    ("eligibility: types served without the section", ELIG, _delete("rest.eligibility"),
     "$.resources.CoverageEligibilityRequest", "is served only with $.rest.eligibility"),
    ("eligibility: the section without the types", ELIG, _delete("resources.CoverageEligibilityResponse"),
     "$.rest.eligibility", "needs CoverageEligibilityResponse in $.resources"),
    ("eligibility: a response clients may create", ELIG,
     _set("resources.CoverageEligibilityResponse.interactions", ["read", "create"]),
     "$.resources.CoverageEligibilityResponse.interactions", "create is not offered to clients"),
    ("eligibility: a request that cannot be created", ELIG,
     _set("resources.CoverageEligibilityRequest.interactions", ["read"]),
     "$.resources.CoverageEligibilityRequest.interactions", "an eligibility check is asked by create"),
    ("eligibility: an HL7 v2 profile serving it", HL7V2,
     _set("resources.CoverageEligibilityRequest", {"interactions": ["create"]}),
     "$.resources.CoverageEligibilityRequest", "is served only with $.rest.eligibility"),
]


@pytest.mark.parametrize("key, mutate, path, problem", [case[1:] for case in BROKEN],
                         ids=[case[0] for case in BROKEN])
def test_a_broken_copy_is_refused_naming_file_path_and_problem(key, mutate, path, problem):
    data = copy.deepcopy(_data(key))
    mutate(data)
    text = _refused(data, key)
    assert f"broken/{key}.yaml: {path}: " in text and problem in text, text


def test_every_problem_is_reported_at_once():
    data = copy.deepcopy(_data(INTAKE))
    _rename("rest.records.Patient.mrn", "mnr")(data)
    _set("rest.endpoints.Patient.create.method", "FETCH")(data)
    text = _refused(data, INTAKE)
    assert len(text.splitlines()) == 2 and "'mnr' was unexpected" in text and "'FETCH'" in text


def test_reference_problems_and_a_file_name_mismatch_are_reported_together():
    data = copy.deepcopy(_data(HL7V2))
    _set("hl7v2.mappings.Patient.5.map", "sex")(data)
    with pytest.raises(ProfileError) as info:
        parse_profile(yaml.safe_dump(data, sort_keys=False), "renamed@1.0.0.yaml")
    assert "renamed@1.0.0.yaml: $.hl7v2.mappings.Patient[5].map: 'sex' is not a value map" in str(info.value)
    assert "renamed@1.0.0.yaml: $.id/$.version: file must be named" in str(info.value)


def test_a_local_profile_carries_no_dialect_section():
    data = copy.deepcopy(_data("local-store@1.1.0"))
    data["rest"] = _data(INTAKE)["rest"]
    assert "$: " in _refused(data, "local-store@1.1.0")
