"""End to end over real sockets: Patient writes through the gateway reach the sandbox vendor
REST EHR as its own JSON (OAuth2 client credentials); vendor refusals answer 422, rate limits
and outages 503 with Retry-After, and nothing is stored either way."""
from __future__ import annotations

import copy
import json
import urllib.request

import pytest

from conformance.sandbox.rest_ehr import RestEhr
from gateway.app import create_app
from gateway.settings import settings_from_mapping

FHIR_JSON = "application/fhir+json"
PATIENT = {"resourceType": "Patient",
           "identifier": [{"system": "urn:oid:1.2.3", "value": "CH-100"}],
           "name": [{"family": "Rivera", "given": ["Ana", "Lucia"]}], "gender": "female",
           "birthDate": "1985-03-14",
           "telecom": [{"system": "phone", "use": "mobile", "value": "+1 217 555 0101"}],
           "contact": [{"name": {"text": "Jo Rivera"}, "relationship": [{"text": "spouse"}],
                        "telecom": [{"system": "phone", "value": "+1 217 555 0109"}]}]}


@pytest.fixture
def vendor():
    sandbox = RestEhr("127.0.0.1").start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def gateway(vendor, settings_overrides):
    overrides = dict(settings_overrides, backends=[{
        "name": "vendor", "dialect": "rest", "profile": "sandbox-rest-intake@1.0.0",
        "endpoint": vendor.api_url, "resources": ["Patient"],
        "options": {"token_url": vendor.token_url, "client_id": "sandbox-client",
                    "client_secret": "sandbox-secret", "mrn_system": "urn:oid:1.2.3",
                    "read_timeout": 1.5}}])
    app = create_app(settings_from_mapping(overrides))
    yield app.test_client()
    app.extensions["fhir_gateway"].db.dispose()


def _records(vendor) -> list[dict]:
    with urllib.request.urlopen(f"{vendor.url}/_sandbox/records", timeout=5) as response:
        return json.loads(response.read())["patients"]


def _fault(vendor, **body) -> None:
    request = urllib.request.Request(f"{vendor.url}/_sandbox/faults", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).read()


def _count(client) -> int:
    return client.get("/fhir/Patient?_summary=count").get_json()["total"]


def test_create_and_update_arrive_as_vendor_json(gateway, vendor):
    created = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert created.status_code == 201, created.data
    pid = created.get_json()["id"]
    [record] = _records(vendor)
    assert (record["chart_number"], record["first_name"], record["middle_name"], record["last_name"],
            record["date_of_birth"], record["sex"]) == ("CH-100", "Ana", "Lucia", "Rivera", "1985-03-14", "F")
    assert record["phone_mobile"] == "+1 217 555 0101"
    assert (record["emergency_contact_name"], record["emergency_contact_relationship"]) == ("Jo Rivera", "spouse")
    changed = dict(copy.deepcopy(PATIENT), id=pid, birthDate="1985-03-15")
    assert gateway.put(f"/fhir/Patient/{pid}", data=json.dumps(changed), content_type=FHIR_JSON).status_code == 200
    [record] = _records(vendor)  # the PUT went to the same vendor id, not a new record
    assert record["date_of_birth"] == "1985-03-15"
    assert gateway.get(f"/fhir/Patient/{pid}").get_json()["birthDate"] == "1985-03-15"


def test_vendor_refusal_is_422_with_its_reason(gateway, vendor):
    gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    duplicate = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert duplicate.status_code == 422  # the vendor's chart_number is unique: 409 there
    assert "409" in duplicate.get_json()["issue"][0]["diagnostics"]
    assert _count(gateway) == 1


@pytest.mark.parametrize("mode", ["500", "429", "timeout"])
def test_vendor_outage_is_503_and_nothing_stored(gateway, vendor, mode):
    _fault(vendor, mode=mode, count=1, delay=3)
    response = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert response.status_code == 503, response.data
    assert int(response.headers["Retry-After"]) > 0
    assert _count(gateway) == 0 and _records(vendor) == []


def test_bad_credentials_are_a_refusal_not_a_success(vendor, settings_overrides):
    overrides = dict(settings_overrides, backends=[{
        "name": "vendor", "dialect": "rest", "profile": "sandbox-rest-intake@1.0.0",
        "endpoint": vendor.api_url, "resources": ["Patient"],
        "options": {"token_url": vendor.token_url, "client_id": "sandbox-client", "client_secret": "wrong"}}])
    app = create_app(settings_from_mapping(overrides))
    response = app.test_client().post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert response.status_code in (422, 503)
    assert app.test_client().get("/fhir/Patient?_summary=count").get_json()["total"] == 0
    app.extensions["fhir_gateway"].db.dispose()
