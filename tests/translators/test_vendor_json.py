"""The vendor JSON dialect with profile sandbox-rest-intake@1.0.0: golden, round trip, bad input."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from translators.dialects import vendor_json
from translators.profile import load_profiles
from translators.types import TranslateContext, TranslationError

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "sandbox-rest-intake" / "1.0.0"
PROFILE = load_profiles()["sandbox-rest-intake@1.0.0"]
OPTIONS = {"mrn_system": "urn:fhir-gateway:mrn"}
CTX = TranslateContext(datetime(2026, 11, 24, tzinfo=timezone.utc), "", options=OPTIONS)


def test_golden_create_request():
    resource = json.loads((GOLDEN / "patient-create.fhir.json").read_text())
    request = vendor_json.render(PROFILE, "create", resource, CTX)
    assert {"method": request.method, "path": request.path, "json": request.json} == \
        json.loads((GOLDEN / "patient-create.vendor.json").read_text())


def test_update_needs_and_uses_the_vendor_id():
    resource = json.loads((GOLDEN / "patient-create.fhir.json").read_text())
    with pytest.raises(TranslationError, match="backend id"):
        vendor_json.render(PROFILE, "update", resource, CTX)
    ctx = TranslateContext(CTX.now, "", backend_ids={("Patient", "golden-1"): "p-000042"}, options=OPTIONS)
    request = vendor_json.render(PROFILE, "update", resource, ctx)
    assert (request.method, request.path) == ("PUT", "/patients/p-000042")


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
_patients = st.fixed_dictionaries({
    "resourceType": st.just("Patient"), "id": st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True),
    "identifier": st.builds(lambda v: [{"system": "urn:fhir-gateway:mrn", "value": v}], _text),
    "name": st.builds(lambda f, g: [{"family": f, "given": g}], _text, st.lists(_text, min_size=1, max_size=2)),
    "gender": st.sampled_from(["male", "female", "other", "unknown"]),
    "birthDate": st.dates().map(lambda d: d.isoformat()),
    "telecom": st.builds(lambda v: [{"system": "phone", "use": "home", "value": v}], _text),
    "address": st.builds(lambda a, c, z: [{"line": [a], "city": c, "postalCode": z}], _text, _text, _text),
    "maritalStatus": st.sampled_from(["S", "M", "D", "W"]).map(lambda c: {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": c}]}),
})


@settings(max_examples=150, deadline=None)
@given(_patients)
def test_round_trip_fhir_vendor_fhir(patient):
    request = vendor_json.render(PROFILE, "create", patient, CTX)
    back = vendor_json.read(PROFILE, "Patient", dict(request.json, id="p-1"), OPTIONS)
    for key in ("identifier", "name", "gender", "birthDate", "telecom", "address", "maritalStatus"):
        assert back[key] == patient[key], key


@pytest.mark.parametrize("record, where", [
    ({"first_name": "A", "last_name": "B", "sex": "X"}, "/sex"),
    ({"first_name": "A", "marital_status": "complicated"}, "/marital_status"),
    (["not", "an", "object"], "Patient"),
])
def test_records_that_do_not_fit_the_profile_are_refused(record, where):
    with pytest.raises(TranslationError) as info:
        vendor_json.read(PROFILE, "Patient", record, OPTIONS)
    assert info.value.where == where


def test_fhir_value_without_a_vendor_code_is_refused():
    resource = json.loads((GOLDEN / "patient-create.fhir.json").read_text())
    resource["maritalStatus"]["coding"][0]["code"] = "T"
    with pytest.raises(TranslationError, match="marital"):
        vendor_json.render(PROFILE, "create", resource, CTX)
