"""The vendor JSON dialect's declarative features with sandbox-rest-intake@1.1.0 and
openemr-standard@7.0.0-1.0.0: round trips of every mapped field (hypothesis), references to
parent records, split date/time transforms, paging, error bodies, and records that do not fit."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from translators.dialects import vendor_json, vendor_lists
from translators.profile import load_profiles
from translators.types import TranslateContext, TranslationError

PROFILES = load_profiles()
INTAKE, OPENEMR = PROFILES["sandbox-rest-intake@1.1.0"], PROFILES["openemr-standard@7.0.0-1.0.0"]
OPTIONS = {"mrn_system": "urn:fhir-gateway:mrn", "timezone": "America/Chicago"}
IDS = {("Patient", "pat-1"): "vendor-p1"}
LOCAL = {("Patient", "vendor-p1"): "pat-1"}
CTX = TranslateContext(datetime(2026, 11, 24, tzinfo=timezone.utc), "", backend_ids=IDS, options=OPTIONS)

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
_patient_ref = st.just({"reference": "Patient/pat-1"})
_coverages = st.fixed_dictionaries({
    "resourceType": st.just("Coverage"), "id": st.just("cov-1"), "status": st.just("active"),
    "beneficiary": _patient_ref,
    "identifier": st.builds(lambda v: [{"value": v}], _text),
    "class": st.builds(lambda v, n: [{"value": v, "name": n, "type": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "group"}]}}], _text, _text),
    "relationship": st.sampled_from(["self", "spouse", "child", "other"]).map(lambda c: {"coding": [{
        "code": c, "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship"}]}),
    "order": st.sampled_from([1, 2, 3]),
    "period": st.builds(lambda a, b: {"start": a.isoformat(), "end": b.isoformat()}, st.dates(), st.dates()),
    "payor": st.builds(lambda d, i: [{"display": d, "identifier": {"value": i}}], _text, _text),
})
# Clinic hours (14:00-22:59 UTC is daytime in America/Chicago): OpenEMR keeps one date per
# appointment, so one that crosses the EHR's local midnight is refused (tested below).
_instants = st.builds(lambda d, h, m: datetime(d.year, d.month, d.day, h, m, tzinfo=timezone.utc),
                      st.dates(datetime(2000, 1, 1).date(), datetime(2099, 12, 30).date()),
                      st.integers(14, 22), st.integers(0, 59))
_appointments = st.fixed_dictionaries({
    "resourceType": st.just("Appointment"), "id": st.just("apt-1"),
    "status": st.sampled_from(["booked", "arrived", "fulfilled", "cancelled", "noshow", "pending"]),
    "start": _instants, "minutesDuration": st.integers(1, 60),
    "participant": st.just([{"actor": {"reference": "Patient/pat-1"}, "status": "accepted"}]),
    "description": _text, "appointmentType": st.builds(lambda c: {"coding": [{"code": c}]}, _text),
})


def _round_trip(profile, resource: dict) -> dict:
    request = vendor_json.render(profile, "create", resource, CTX)
    record = {"id": "x", "uuid": "x", "pc_eid": "x", **request.json}  # the rendered fields win
    return vendor_json.read(profile, resource["resourceType"], record, OPTIONS, lambda t, b: LOCAL.get((t, b)))


@settings(max_examples=100, deadline=None)
@given(_coverages)
def test_openemr_coverage_round_trip(coverage):
    back = _round_trip(OPENEMR, coverage)
    for key in ("beneficiary", "identifier", "class", "relationship", "order", "period", "status"):
        assert back[key] == coverage[key], key
    assert back["payor"] == [{"identifier": coverage["payor"][0]["identifier"]}]  # the EHR's payer id


@settings(max_examples=100, deadline=None)
@given(_coverages)
def test_intake_coverage_round_trip(coverage):
    back = _round_trip(INTAKE, coverage)
    for key in ("beneficiary", "identifier", "relationship", "status"):
        assert back[key] == coverage[key], key
    assert back["payor"] == [{"display": coverage["payor"][0]["display"]}]
    assert back["class"][0]["value"] == coverage["class"][0]["value"]


def _with_end(appointment: dict) -> dict:
    from datetime import timedelta
    start = appointment["start"]
    return dict(appointment, start=start.isoformat(),
                end=(start + timedelta(minutes=appointment["minutesDuration"])).isoformat())


@settings(max_examples=100, deadline=None)
@given(_appointments)
def test_appointment_round_trips(appointment):
    appointment = _with_end(appointment)
    for profile in (INTAKE, OPENEMR):
        back = _round_trip(profile, appointment)
        for key in ("status", "minutesDuration", "participant", "description", "appointmentType"):
            assert back[key] == appointment[key], (profile.key, key)
        for key in ("start", "end"):  # the same instant; OpenEMR's is written in the EHR's zone
            assert datetime.fromisoformat(back[key]) == datetime.fromisoformat(appointment[key]), key


_patients = st.fixed_dictionaries({
    "resourceType": st.just("Patient"), "id": st.just("pat-1"),
    "identifier": st.builds(lambda v: [{"system": "urn:fhir-gateway:mrn", "value": v}], _text),
    "name": st.builds(lambda f, g, p: [{"family": f, "given": g, "prefix": [p]}], _text,
                      st.lists(_text, min_size=1, max_size=2), _text),
    "gender": st.sampled_from(["male", "female", "unknown"]), "birthDate": st.dates().map(lambda d: d.isoformat()),
    "telecom": st.builds(lambda h, m, e: [{"system": "phone", "use": "home", "value": h},
                                          {"system": "phone", "use": "mobile", "value": m},
                                          {"system": "email", "value": e}], _text, _text, _text),
    "address": st.builds(lambda a, c, s, z: [{"line": [a], "city": c, "state": s, "postalCode": z}],
                         _text, _text, _text, _text),
    "contact": st.builds(lambda n, p: [{"name": {"text": n}, "telecom": [{"system": "phone", "value": p}]}],
                         _text, _text),
})


@settings(max_examples=100, deadline=None)
@given(_patients)
def test_openemr_patient_round_trip(patient):
    back = _round_trip(OPENEMR, patient)
    for key in ("identifier", "name", "gender", "birthDate", "address", "contact"):
        assert back[key] == patient[key], key
    assert sorted(map(str, back["telecom"])) == sorted(map(str, patient["telecom"]))


def test_a_child_record_needs_its_parent_and_its_parents_vendor_id():
    appointment = _with_end({"resourceType": "Appointment", "id": "a", "status": "booked", "minutesDuration": 15,
                             "start": datetime(2026, 12, 1, 15, tzinfo=timezone.utc), "participant": []})
    with pytest.raises(TranslationError, match="needs a reference to a Patient"):
        vendor_json.render(OPENEMR, "create", appointment, CTX)
    appointment["participant"] = [{"actor": {"reference": "Patient/unknown"}, "status": "accepted"}]
    with pytest.raises(TranslationError, match="not known"):
        vendor_json.render(OPENEMR, "create", appointment, CTX)
    assert vendor_json.parent_of(OPENEMR, appointment) == ("Patient", "unknown")


def test_two_elements_writing_one_vendor_field_differently_is_refused():
    appointment = _with_end({"resourceType": "Appointment", "id": "a", "status": "booked", "minutesDuration": 15,
                             "start": datetime(2026, 12, 1, 15, tzinfo=timezone.utc),
                             "participant": [{"actor": {"reference": "Patient/pat-1"}, "status": "accepted"}]})
    appointment["end"] = "2026-12-02T15:15:00+00:00"  # another day: pc_eventDate cannot hold both
    with pytest.raises(TranslationError, match="pc_eventDate"):
        vendor_json.render(OPENEMR, "create", appointment, CTX)


def test_merge_patch_endpoints_send_null_for_what_is_gone():
    coverage = {"resourceType": "Coverage", "id": "c", "beneficiary": {"reference": "Patient/pat-1"},
                "identifier": [{"value": "M-1"}]}
    request = vendor_json.render(INTAKE, "update", coverage, CTX)
    assert (request.method, request.path) == ("PATCH", "/patients/vendor-p1")
    assert request.json == {"id": "vendor-p1", "insurance_id": "M-1", "insurance_company": None,
                            "group_number": None, "insurance_relationship": None}


@pytest.mark.parametrize("profile, rtype, record, where", [
    (OPENEMR, "Appointment", {"pc_eventDate": "2026-13-01", "pc_startTime": "09:00"}, "2026-13-01 09:00"),
    (OPENEMR, "Appointment", {"pc_duration": "90"}, "90"),
    (OPENEMR, "Appointment", {"pc_apptstatus": "Z"}, "/pc_apptstatus"),
    (OPENEMR, "Patient", {"DOB": "yesterday"}, "yesterday"),
    (OPENEMR, "Patient", {"fname": {"first": "Ann"}}, "/fname"),
    (INTAKE, "Coverage", {"insurance_relationship": "cousin"}, "/insurance_relationship"),
])
def test_vendor_records_that_do_not_fit_are_refused_by_name(profile, rtype, record, where):
    with pytest.raises(TranslationError) as info:
        vendor_json.read(profile, rtype, record, OPTIONS)
    assert info.value.where == where


def test_a_vendor_id_the_gateway_does_not_know_stays_as_a_logical_reference():
    back = vendor_json.read(INTAKE, "Coverage", {"id": "p-9", "insurance_id": "M"}, OPTIONS)
    assert back["beneficiary"] == {"type": "Patient", "identifier": {
        "system": "urn:fhir-gateway:vendor-id:Patient", "value": "p-9"}}


def test_paging_by_next_page_pointer_and_by_offset():
    first = vendor_lists.search_request(INTAKE, "Patient", {"mrn": "M-1"})
    assert (first.path, first.params) == ("/patients", {"chart_number": "M-1"})
    second = vendor_lists.search_request(INTAKE, "Patient", {"mrn": "M-1"}, first, {"data": [], "next_page": 2})
    assert second.params == {"chart_number": "M-1", "page": 2}
    assert vendor_lists.search_request(INTAKE, "Patient", {}, second, {"data": [], "next_page": None}) is None
    first = vendor_lists.search_request(OPENEMR, "Patient", {"family": "Rivera"})
    assert first.params == {"lname": "Rivera", "_limit": 50, "_offset": 0}
    full = {"data": [{}] * 50}
    second = vendor_lists.search_request(OPENEMR, "Patient", {}, first, full)
    assert second.params["_offset"] == 50
    assert vendor_lists.search_request(OPENEMR, "Patient", {}, second, {"data": [{}]}) is None
    with pytest.raises(TranslationError, match="cannot search by"):
        vendor_lists.search_request(OPENEMR, "Patient", {"shoe_size": "9"})
    with pytest.raises(TranslationError, match="no list"):
        vendor_lists.items_of(OPENEMR, "Patient", {"data": {"not": "a list"}})


def test_error_bodies_are_read_through_the_profiles_pointers():
    assert vendor_json.error_of(INTAKE, {"error": {"code": "missing_field", "message": "last_name"}}) == (
        "missing_field", "last_name")
    code, message = vendor_json.error_of(OPENEMR, {"validationErrors": {"DOB": {"required": "is required"}},
                                                   "internalErrors": [], "data": []})
    assert "DOB" in message and "is required" in message
    assert vendor_json.error_of(OPENEMR, {"error": "invalid_token"}) is None  # the transport's reading applies


@pytest.mark.parametrize("params, expected", [
    ([("identifier", "urn:oid:1.2.3|CH-1")], {"mrn": "CH-1"}),
    ([("identifier", "CH-1"), ("_count", "5")], {"mrn": "CH-1"}),
    ([("birthdate", "1980-02-03"), ("identifier", "urn:oid:1.2.3|CH-1")], {"birthdate": "1980-02-03", "mrn": "CH-1"}),
    ([("identifier", "urn:other|CH-1")], None),  # not the vendor's MRN system
    ([("birthdate", "ge1980-02-03")], None),  # a prefix: FHIR semantics the vendor lacks
    ([("birthdate", "1980")], None),  # a partial date
    ([("family", "Riv")], None),  # the vendor matches names exactly: mirror
    ([("identifier", "a,b")], None),  # OR lists
    ([("identifier:exact", "CH-1")], None),  # modifiers
    ([("identifier", "CH-1"), ("identifier", "CH-2")], None),  # AND of two
    ([("_count", "5")], None),  # nothing to ask
])
def test_criteria_for_sends_only_what_the_vendor_matches_like_fhir(params, expected):
    from translators.dialects.vendor_lists import criteria_for
    profile = load_profiles()["sandbox-rest-intake@1.2.0"]
    assert criteria_for(profile, "Patient", params, {"mrn_system": "urn:oid:1.2.3"}) == expected
    assert criteria_for(load_profiles()["sandbox-rest-intake@1.1.0"], "Patient", params,
                        {"mrn_system": "urn:oid:1.2.3"}) is None  # 1.1.0 declares no search
