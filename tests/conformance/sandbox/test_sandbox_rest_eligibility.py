"""The sandbox REST EHR's eligibility endpoint through VendorHttpClient (OAuth2, real socket):
active or inactive by the plan period against the service date, copay/deductible/coinsurance per
plan, unknown members in the vendor's error shape, body validation, the plan catalogue API,
and the shared fault injection (500, 429, timeout) and bearer auth."""
from __future__ import annotations

import pytest
import requests

from gateway.transports.http import HttpRateLimited, HttpRefused, HttpUnavailable

pytestmark = pytest.mark.live

MEMBER = {"chart_number": "MRN-1", "first_name": "Ada", "last_name": "Lovelace",
          "date_of_birth": "1815-12-10", "insurance_company": "Acme Health Plan",
          "insurance_id": "ACME-1", "group_number": "GRP-4410", "insurance_relationship": "self",
          "insurance_start": "2026-01-01", "insurance_end": "2026-06-30"}


def _refused(call, *args) -> HttpRefused:
    with pytest.raises(HttpRefused) as caught:
        call(*args)
    return caught.value


def _ask(vendor, **fields) -> dict:
    return vendor.post("eligibility", {"patient_id": "p-000001", "member_id": "ACME-1", **fields}).body


@pytest.fixture
def member(vendor) -> dict:
    return vendor.post("patients", MEMBER).body


@pytest.mark.parametrize("day, status", [("2025-12-31", "inactive"), ("2026-01-01", "active"),
                                         ("2026-06-30", "active"), ("2026-07-01", "inactive")])
def test_status_follows_the_plan_period_inclusive(vendor, member, day, status):
    answer = _ask(vendor, service_date=day)
    assert (answer["status"], answer["service_date"], answer["patient_id"]) == (status, day, member["id"])
    assert answer["coverage_period"] == {"start": "2026-01-01", "end": "2026-06-30"}
    assert answer["plan"] == {"group_number": "GRP-4410", "name": "Acme Silver"}
    assert ("benefit_period" in answer) == (status == "active")


def test_benefits_per_plan_only_when_asked_and_only_of_the_service_types_asked(vendor, member):
    silver = _ask(vendor, service_date="2026-03-01", inquiry=["eligibility", "benefits"])
    assert silver["benefit_period"] == {"start": "2026-01-01", "end": "2026-06-30"}  # plan year within the period
    amounts = {(b["service_type"], b["network"], a["type"]): a.get("allowed", a.get("percent"))
               for b in silver["benefits"] for a in b["amounts"]}
    assert amounts == {("30", "in", "deductible"): "1500.00", ("30", "out", "deductible"): "3000.00",
                       ("1", "in", "copay"): "25.00", ("1", "in", "coinsurance"): 20}
    assert "benefits" not in _ask(vendor, service_date="2026-03-01")  # inquiry eligibility only
    only = _ask(vendor, service_date="2026-03-01", inquiry=["benefits"], service_types=["1"])
    assert {b["service_type"] for b in only["benefits"]} == {"1"}
    vendor.request("PATCH", f"patients/{member['id']}", json={"group_number": "GRP-2000"})
    gold = _ask(vendor, service_date="2026-03-01", inquiry=["benefits"], service_types=["1", "35"])
    assert [(b["service_type"], b["amounts"]) for b in gold["benefits"]] == [
        ("1", [{"type": "copay", "allowed": "10.00", "currency": "USD"}]),
        ("35", [{"type": "coinsurance", "percent": 50}])]
    assert _ask(vendor, service_date="2026-09-01", inquiry=["benefits"]).get("benefits") is None  # inactive


def test_open_ended_period_and_unknown_plan(vendor, member):
    vendor.request("PATCH", f"patients/{member['id']}", json={"insurance_end": None, "group_number": "GRP-9"})
    answer = _ask(vendor, service_date="2031-02-03", inquiry=["eligibility", "benefits"])
    assert answer["status"] == "active" and answer["plan"] is None and "benefits" not in answer
    assert answer["benefit_period"] == {"start": "2031-01-01", "end": "2031-12-31"}
    ids = [_ask(vendor)["eligibility_id"] for _ in range(2)]  # today, by the vendor's clock
    assert ids == ["e-000002", "e-000003"]


@pytest.mark.parametrize("fields", [{"member_id": "ACME-2"}, {"patient_id": "p-404404"}],
                         ids=["other-member", "unknown-record"])
def test_unknown_member_is_404_in_the_vendor_error_shape(vendor, member, fields):
    error = _refused(vendor.post, "eligibility", {"patient_id": member["id"], "member_id": "ACME-1", **fields})
    assert (error.status, error.code) == (404, "member_not_found")
    assert error.body == {"error": {"code": "member_not_found", "message": error.vendor_message}}


def test_a_record_without_insurance_has_no_member(vendor):
    bare = vendor.post("patients", {k: MEMBER[k] for k in ("first_name", "last_name", "date_of_birth")}).body
    assert _refused(vendor.post, "eligibility", {"patient_id": bare["id"], "member_id": "ACME-1"}).code == "member_not_found"


@pytest.mark.parametrize("body, status, code", [
    ({"member_id": "ACME-1"}, 422, "missing_field"),
    ({"patient_id": "p-000001", "member_id": ""}, 422, "missing_field"),
    ({"patient_id": "p-000001", "member_id": "ACME-1", "service_date": "2026-02-30"}, 422, "invalid_value"),
    ({"patient_id": "p-000001", "member_id": "ACME-1", "inquiry": ["discovery"]}, 422, "invalid_value"),
    ({"patient_id": "p-000001", "member_id": "ACME-1", "service_types": "30"}, 422, "invalid_value"),
    ({"patient_id": 1, "member_id": "ACME-1"}, 422, "invalid_value"),
    ({"patient_id": "p-000001", "member_id": "ACME-1", "ssn": "x"}, 400, "unknown_field"),
    (["p-000001"], 400, "invalid_body"),
])
def test_bad_bodies_are_refused(vendor, member, body, status, code):
    error = _refused(vendor.post, "eligibility", body)
    assert (error.status, error.code) == (status, code)


def test_malformed_json_and_missing_token(rest_ehr, vendor, member):
    vendor.get("patients")
    token = vendor._session.token["access_token"]
    broken = requests.post(f"{rest_ehr.api_url}/eligibility", data="{broken", timeout=5,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    anonymous = requests.post(f"{rest_ehr.api_url}/eligibility", json={"patient_id": "p-000001"}, timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "invalid_token"


def test_fault_injection_applies(rest_ehr, vendor, member):
    def arm(**fault):
        requests.post(f"{rest_ehr.url}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    arm(mode="500")
    with pytest.raises(HttpUnavailable) as down:
        _ask(vendor)
    assert down.value.status == 500
    arm(mode="429", delay=4)
    with pytest.raises(HttpRateLimited) as throttled:
        _ask(vendor)
    assert throttled.value.retry_after == 4
    arm(mode="timeout", delay=3)  # the client gives up after its 2 s read timeout
    with pytest.raises(HttpUnavailable, match="timed out"):
        _ask(vendor)
    assert _ask(vendor, service_date="2026-02-01")["status"] == "active"  # faults are spent


def test_plan_catalogue_api_and_reset(rest_ehr, vendor, member):
    plan = {"GRP-4410": {"name": "Acme Silver 2027", "benefits": [
        {"service_type": "30", "service_name": "Health Benefit Plan Coverage", "network": "in",
         "coverage_level": "family", "period": "annual", "amounts": [{"type": "deductible", "allowed": "4000.00",
                                                                      "currency": "USD"}]}]}}
    assert requests.post(f"{rest_ehr.url}/_sandbox/plans", json=plan, timeout=5).json()["GRP-4410"] == plan["GRP-4410"]
    answer = _ask(vendor, service_date="2026-02-01", inquiry=["benefits"])
    assert answer["plan"]["name"] == "Acme Silver 2027" and answer["benefits"][0]["coverage_level"] == "family"
    assert requests.post(f"{rest_ehr.url}/_sandbox/plans", json={"X": {"name": 1}}, timeout=5).status_code == 400
    records = requests.get(f"{rest_ehr.url}/_sandbox/records", timeout=5).json()
    assert [c["eligibility_id"] for c in records["eligibility_checks"]] == ["e-000001"]
    requests.post(f"{rest_ehr.url}/_sandbox/reset", timeout=5).raise_for_status()
    catalogue = requests.get(f"{rest_ehr.url}/_sandbox/plans", timeout=5).json()
    assert catalogue["GRP-4410"]["name"] == "Acme Silver"
    assert requests.get(f"{rest_ehr.url}/_sandbox/records", timeout=5).json()["eligibility_checks"] == []
