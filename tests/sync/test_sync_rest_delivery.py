"""End to end over real sockets: Patient writes through the gateway reach the sandbox vendor
REST EHR as its own JSON (OAuth2 client credentials); vendor refusals answer 422 and store
nothing; rate limits and outages leave the write stored and queued in the outbox, and the
worker delivers it once the vendor answers again."""
from __future__ import annotations

import copy
import json
import urllib.request

import pytest

from conformance.sandbox.rest_ehr import RestEhr
from gateway.app import create_app
from gateway.settings import settings_from_mapping
from outbox_helpers import deliver_outbox, outbox_rows

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


@pytest.mark.parametrize("mode", ["500", "429"])
def test_vendor_outage_queues_the_write_and_the_worker_delivers_it(gateway, vendor, mode):
    _fault(vendor, mode=mode, count=1, delay=3)
    response = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert response.status_code == 201, response.data
    assert response.headers["X-Delivery-Status"].startswith("queued; backend=vendor")
    assert _count(gateway) == 1 and _records(vendor) == []
    assert deliver_outbox(gateway.application).delivered == 1
    [record] = _records(vendor)
    assert record["chart_number"] == "CH-100"
    [row] = outbox_rows(gateway.application)
    assert row["status"] == "delivered" and row["backend_id"]


def test_vendor_timeout_ends_delivered_or_dead_lettered_never_lost(gateway, vendor):
    """A timed-out create may have reached the vendor (its answer was lost): the resend then
    either succeeds or is refused as a duplicate, which dead-letters it for staff to see; the
    vendor holds the patient exactly once and the row is never silently dropped."""
    _fault(vendor, mode="timeout", count=1, delay=3)
    response = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert response.status_code == 201 and response.headers["X-Delivery-Status"].startswith("queued")
    deliver_outbox(gateway.application)
    [row] = outbox_rows(gateway.application)
    assert row["status"] in ("delivered", "dead"), row
    if row["status"] == "dead":
        assert "409" in row["last_error"]
    assert [r["chart_number"] for r in _records(vendor)] == ["CH-100"]


def test_a_resent_create_adopts_the_record_an_earlier_try_left_at_the_vendor(intake, vendor):
    """sandbox-rest-intake@1.1.0 can search by MRN: the timed-out create had reached the vendor,
    so the resend finds it by chart_number and maps its id instead of creating a duplicate."""
    _fault(vendor, mode="timeout", count=1, delay=3)
    response = intake.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert response.status_code == 201 and response.headers["X-Delivery-Status"].startswith("queued")
    import time
    for _ in range(50):  # the vendor finishes the request it was slow on
        if _all_records(vendor)["patients"]:
            break
        time.sleep(0.1)
    assert deliver_outbox(intake.application).delivered == 1
    [row] = outbox_rows(intake.application)
    [record] = _all_records(vendor)["patients"]
    assert row["status"] == "delivered" and row["backend_id"] == str(record["id"])


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


# -- sandbox-rest-intake@1.1.0: Coverage and Appointment too -----------------------------------
COVERAGE = {"resourceType": "Coverage", "status": "active",
            "identifier": [{"system": "urn:example:payer", "value": "ACME-1"}],
            "payor": [{"display": "Acme Health Plan", "identifier": {"value": "17"}}],
            "class": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                                            "code": "group"}]}, "value": "GRP-9", "name": "Silver"}],
            "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                                         "code": "self"}]}}
APPOINTMENT = {"resourceType": "Appointment", "status": "booked", "description": "Annual physical",
               "start": "2026-12-01T15:00:00+00:00", "end": "2026-12-01T15:30:00+00:00", "minutesDuration": 30}


def _gateway(settings_overrides, profile, endpoint, token_url, resources):
    overrides = dict(settings_overrides, backends=[{
        "name": "vendor", "dialect": "rest", "profile": profile, "endpoint": endpoint,
        "resources": resources,
        "options": {"token_url": token_url, "client_id": "sandbox-client", "client_secret": "sandbox-secret",
                    "mrn_system": "urn:oid:1.2.3", "read_timeout": 1.5, "timezone": "America/Chicago"}}])
    return create_app(settings_from_mapping(overrides))


@pytest.fixture
def intake(vendor, settings_overrides):
    app = _gateway(settings_overrides, "sandbox-rest-intake@1.1.0", vendor.api_url, vendor.token_url,
                   ["Patient", "Coverage", "Appointment"])
    yield app.test_client()
    app.extensions["fhir_gateway"].db.dispose()


def _post(client, body) -> dict:
    response = client.post(f"/fhir/{body['resourceType']}", data=json.dumps(body), content_type=FHIR_JSON)
    assert response.status_code == 201, response.data
    return response.get_json()


def _put(client, body) -> dict:
    response = client.put(f"/fhir/{body['resourceType']}/{body['id']}", data=json.dumps(body),
                          content_type=FHIR_JSON)
    assert response.status_code == 200, response.data
    return response.get_json()


def _with_refs(resource: dict, pid: str) -> dict:
    body = copy.deepcopy(resource)
    if body["resourceType"] == "Coverage":
        body["beneficiary"] = body["subscriber"] = {"reference": f"Patient/{pid}"}
    else:
        body["participant"] = [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}]
    return body


def _all_records(vendor) -> dict:
    with urllib.request.urlopen(f"{vendor.url}/_sandbox/records", timeout=5) as response:
        return json.loads(response.read())


def test_intake_coverage_and_appointment_arrive_and_read_back(intake, vendor):
    pid = _post(intake, PATIENT)["id"]
    coverage = _post(intake, _with_refs(COVERAGE, pid))
    [record] = _records(vendor)
    assert (record["insurance_company"], record["insurance_id"], record["group_number"],
            record["insurance_relationship"]) == ("Acme Health Plan", "ACME-1", "GRP-9", "self")
    assert (record["emergency_contact_name"], record["emergency_contact_phone"]) == ("Jo Rivera", "+1 217 555 0109")
    # a Patient update is a merge patch of its own fields: the insurance stays
    _put(intake, dict(copy.deepcopy(PATIENT), id=pid, birthDate="1985-03-15"))
    [record] = _records(vendor)
    assert (record["date_of_birth"], record["insurance_id"]) == ("1985-03-15", "ACME-1")
    _put(intake, dict(coverage, identifier=[{"value": "ACME-2"}], payor=[{"display": "Other Plan"}]))
    [record] = _records(vendor)
    assert (record["insurance_company"], record["insurance_id"], record["group_number"]) == (
        "Other Plan", "ACME-2", "GRP-9")
    assert intake.get(f"/fhir/Coverage/{coverage['id']}").get_json()["payor"][0]["display"] == "Other Plan"

    appointment = _post(intake, _with_refs(APPOINTMENT, pid))
    [sent] = _all_records(vendor)["appointments"]
    assert (sent["patient_id"], sent["status"], sent["start_time"], sent["duration_minutes"]) == (
        record["id"], "booked", "2026-12-01T15:00:00+00:00", 30)
    _put(intake, dict(appointment, status="cancelled"))
    [sent] = _all_records(vendor)["appointments"]
    assert sent["status"] == "cancelled" and sent["id"] == _all_records(vendor)["appointments"][0]["id"]
    assert intake.get(f"/fhir/Appointment/{appointment['id']}").get_json()["status"] == "cancelled"


def test_a_second_coverage_on_a_one_insurance_record_is_refused_before_sending(intake, vendor):
    """The intake vendor keeps one insurance per patient record: a second Coverage for the same
    patient would silently replace the first there, so it is a 422 naming the Coverage that
    holds the record, and the vendor keeps the first (never a 500)."""
    pid = _post(intake, PATIENT)["id"]
    first = _post(intake, _with_refs(COVERAGE, pid))
    second_body = dict(_with_refs(COVERAGE, pid), identifier=[{"value": "ACME-7"}])
    response = intake.post("/fhir/Coverage", data=json.dumps(second_body), content_type=FHIR_JSON)
    assert response.status_code == 422, response.data
    assert f"Coverage/{first['id']} already holds it" in response.get_json()["issue"][0]["diagnostics"]
    [record] = _records(vendor)
    assert record["insurance_id"] == "ACME-1"
    assert intake.get("/fhir/Coverage?_summary=count").get_json()["total"] == 1


def test_coverage_for_a_patient_the_vendor_does_not_know_registers_it_once(vendor, settings_overrides):
    app = _gateway(settings_overrides, "sandbox-rest-intake@1.1.0", vendor.api_url, vendor.token_url,
                   ["Coverage"])  # Patient stays local (in the demo: another backend owns it)
    client = app.test_client()
    try:
        pid = _post(client, PATIENT)["id"]
        assert _records(vendor) == []
        coverage = _post(client, _with_refs(COVERAGE, pid))
        [record] = _records(vendor)
        assert (record["chart_number"], record["last_name"], record["insurance_id"]) == ("CH-100", "Rivera", "ACME-1")
        _put(client, dict(coverage, identifier=[{"value": "ACME-3"}]))
        [record] = _records(vendor)  # found again by chart_number, not registered twice
        assert record["insurance_id"] == "ACME-3"
    finally:
        app.extensions["fhir_gateway"].db.dispose()


def test_intake_refusal_of_a_coverage_is_422_with_the_vendors_reason(intake, vendor):
    pid = _post(intake, PATIENT)["id"]
    body = _with_refs(COVERAGE, pid)
    body["payor"][0]["display"] = "x" * 600  # the vendor takes at most 500 characters
    response = intake.post("/fhir/Coverage", data=json.dumps(body), content_type=FHIR_JSON)
    assert response.status_code == 422
    assert "insurance_company is longer than 500" in response.get_json()["issue"][0]["diagnostics"]
    assert intake.get("/fhir/Coverage?_summary=count").get_json()["total"] == 0


# -- openemr-standard@7.0.0-1.0.0: the second vendor dialect --------------------------------------
@pytest.fixture
def openemr(vendor, settings_overrides):
    app = _gateway(settings_overrides, "openemr-standard@7.0.0-1.0.0", vendor.openemr_url,
                   vendor.openemr_token_url, ["Patient", "Coverage", "Appointment"])
    yield app.test_client()
    app.extensions["fhir_gateway"].db.dispose()


def test_openemr_patient_appointment_coverage_arrive_as_openemr_json(openemr, vendor):
    pid = _post(openemr, PATIENT)["id"]
    [patient] = _all_records(vendor)["openemr"]["patient"]
    assert (patient["pubpid"], patient["fname"], patient["mname"], patient["lname"], patient["DOB"],
            patient["sex"], patient["phone_cell"], patient["contact_relationship"]) == (
        "CH-100", "Ana", "Lucia", "Rivera", "1985-03-14", "Female", "+1 217 555 0101", "Jo Rivera")
    _put(openemr, dict(copy.deepcopy(PATIENT), id=pid, birthDate="1985-03-15"))
    [patient] = _all_records(vendor)["openemr"]["patient"]
    assert patient["DOB"] == "1985-03-15"
    assert openemr.get(f"/fhir/Patient/{pid}").get_json()["birthDate"] == "1985-03-15"

    appointment = _post(openemr, _with_refs(APPOINTMENT, pid))
    [sent] = _all_records(vendor)["openemr"]["appointment"]
    # 15:00 UTC is 09:00 in the EHR's zone (America/Chicago, CST); the duration is in seconds
    assert (sent["puuid"], sent["pc_eventDate"], sent["pc_startTime"], sent["pc_duration"],
            sent["pc_apptstatus"]) == (patient["uuid"], "2026-12-01", "09:00:00", 1800, "-")
    assert openemr.delete(f"/fhir/Appointment/{appointment['id']}").status_code in (200, 204)
    assert _all_records(vendor)["openemr"]["appointment"] == []

    coverage = _post(openemr, _with_refs(COVERAGE, pid))
    [insurance] = _all_records(vendor)["openemr"]["insurance"]
    assert (insurance["provider"], insurance["policy_number"], insurance["group_number"],
            insurance["plan_name"], insurance["type"], insurance["subscriber_lname"]) == (
        "17", "ACME-1", "GRP-9", "Silver", "primary", "Rivera")
    _put(openemr, dict(coverage, order=2))
    [insurance] = _all_records(vendor)["openemr"]["insurance"]
    assert insurance["type"] == "secondary"


def test_openemr_refusal_is_422_with_its_validation_errors(openemr, vendor):
    _post(openemr, PATIENT)
    response = openemr.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert response.status_code == 422
    assert "another patient has this external id" in response.get_json()["issue"][0]["diagnostics"]
    other = dict(copy.deepcopy(PATIENT), gender="other", identifier=[{"system": "urn:oid:1.2.3", "value": "CH-2"}])
    response = openemr.post("/fhir/Patient", data=json.dumps(other), content_type=FHIR_JSON)
    assert response.status_code == 422 and "value map sex" in response.get_json()["issue"][0]["diagnostics"]
    assert openemr.get("/fhir/Patient?_summary=count").get_json()["total"] == 1


def test_openemr_unreachable_queues_and_stays_pending(vendor, settings_overrides):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nothing listens there once the socket is closed
    app = _gateway(settings_overrides, "openemr-standard@7.0.0-1.0.0",
                   f"http://127.0.0.1:{closed}/openemr/apis/default",
                   f"http://127.0.0.1:{closed}/openemr/oauth2/default/token", ["Patient"])
    client = app.test_client()
    try:
        response = client.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
        assert response.status_code == 201 and response.headers["X-Delivery-Status"].startswith("queued")
        assert deliver_outbox(app).retried == 1  # still unreachable: kept for the next try
        [row] = outbox_rows(app)
        assert row["status"] == "pending" and row["attempts"] == 2 and row["next_attempt_at"]
    finally:
        app.extensions["fhir_gateway"].db.dispose()


@pytest.mark.parametrize("mode", ["500", "429"])
def test_openemr_outage_queues_and_delivers_later(openemr, vendor, mode):
    _fault(vendor, mode=mode, count=1, delay=2)
    response = openemr.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert response.status_code == 201 and response.headers["X-Delivery-Status"].startswith("queued")
    assert _all_records(vendor)["openemr"]["patient"] == []
    assert deliver_outbox(openemr.application).delivered == 1
    assert len(_all_records(vendor)["openemr"]["patient"]) == 1


@pytest.fixture
def searching_gateway(vendor, settings_overrides):
    """The REST vendor owns Patient with sandbox-rest-intake@1.2.0: it answers identifier and
    birthdate searches; the gateway mirrors what it answers."""
    overrides = dict(settings_overrides, backends=[{
        "name": "vendor", "dialect": "rest", "profile": "sandbox-rest-intake@1.2.0",
        "endpoint": vendor.api_url, "resources": ["Patient"],
        "options": {"token_url": vendor.token_url, "client_id": "sandbox-client",
                    "client_secret": "sandbox-secret", "mrn_system": "urn:oid:1.2.3", "read_timeout": 1.5}}])
    app = create_app(settings_from_mapping(overrides))
    yield app.test_client()
    app.extensions["fhir_gateway"].db.dispose()


def _register_at_the_vendor(vendor, record: dict) -> str:
    """A patient the EHR registered itself (the gateway never saw it)."""
    import requests
    token = requests.post(vendor.token_url, data={"grant_type": "client_credentials"},
                          auth=("sandbox-client", "sandbox-secret"), timeout=5).json()["access_token"]
    answer = requests.post(f"{vendor.api_url}/patients", json=record, timeout=5,
                           headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_a_search_the_vendor_answers_finds_and_mirrors_its_patients(searching_gateway, vendor):
    client = searching_gateway
    vendor_id = _register_at_the_vendor(vendor, {"first_name": "Kofi", "last_name": "Mensah",
                                                 "date_of_birth": "1979-06-01", "chart_number": "CH-777"})
    assert _count(client) == 0  # the mirror does not know this patient yet
    found = client.get("/fhir/Patient?identifier=urn:oid:1.2.3|CH-777").get_json()
    assert found["total"] == 1
    patient = found["entry"][0]["resource"]
    assert patient["name"][0]["family"] == "Mensah" and patient["birthDate"] == "1979-06-01"
    assert _count(client) == 1  # mirrored, with the vendor's id in the id map
    again = client.get("/fhir/Patient?birthdate=1979-06-01").get_json()
    assert [e["resource"]["id"] for e in again["entry"]] == [patient["id"]] and _count(client) == 1
    cs = client.get("/fhir/metadata").get_json()
    entry = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"identifier", "birthdate"} <= {p["name"] for p in entry["searchParam"]}
    assert vendor_id


def test_searches_the_vendor_cannot_answer_like_fhir_stay_on_the_mirror(searching_gateway, vendor):
    client = searching_gateway
    _register_at_the_vendor(vendor, {"first_name": "Ama", "last_name": "Owusu", "date_of_birth": "1979-02-02",
                                     "chart_number": "CH-778"})
    # a name prefix, another identifier system, a partial date: not sent to the vendor
    for query in ("family=Owu", "identifier=urn:other|CH-778", "birthdate=1979"):
        assert client.get(f"/fhir/Patient?{query}").get_json()["total"] == 0, query
    requests_seen = json.loads(urllib.request.urlopen(f"{vendor.url}/_sandbox/requests", timeout=5).read())
    assert not [r for r in requests_seen if r["method"] == "GET" and r["path"].endswith("/patients")]


def test_a_vendor_that_should_answer_but_is_down_is_503(searching_gateway, vendor):
    _fault(vendor, mode="500", count=5)
    response = searching_gateway.get("/fhir/Patient?identifier=urn:oid:1.2.3|CH-1")
    assert response.status_code == 503 and "Retry-After" in response.headers
