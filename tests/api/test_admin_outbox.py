"""The staff API over the outbox (/admin/outbox), with auth on: integration_admin only, every
call audited; dead letters inspected, replayed (as the resource's current version) or
discarded with a reason; bad input answered with an OperationOutcome."""
from __future__ import annotations

import base64
import json
import urllib.request

import pytest

from gateway.app import create_app
from gateway.settings import settings_from_mapping
from outbox_helpers import deliver_outbox

FHIR_JSON = "application/fhir+json"
PATIENT = {"resourceType": "Patient", "identifier": [{"system": "urn:fhir-gateway:mrn", "value": "MRN-9001"}],
           "name": [{"family": "Okafor", "given": ["Chinedu"]}], "gender": "male", "birthDate": "1972-11-02"}


@pytest.fixture
def app(ehr, settings_overrides):
    application = create_app(settings_from_mapping(dict(settings_overrides, auth="on", backends=[{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.2.0",
        "endpoint": ehr.mllp_url, "resources": ["Patient"],
        "options": {"read_timeout": 1.5, "assigning_authority": "CLINIC"}}])))
    yield application
    application.extensions["fhir_gateway"].db.dispose()


def _token(app, role: str, scope: str) -> dict:
    registered = app.extensions["fhir_gateway"].auth.add_client(f"t-{role}", scope, role)
    basic = base64.b64encode(f"{registered['client_id']}:{registered['client_secret']}".encode()).decode()
    answer = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"},
                                    headers={"Authorization": f"Basic {basic}"})
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


@pytest.fixture
def admin(app) -> dict:
    return _token(app, "integration_admin", "system/*.cruds")


def _fault(ehr, **body) -> None:
    request = urllib.request.Request(f"{ehr.http_url}/faults", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).read()


def _dead_letter(app, ehr, admin) -> tuple[str, int]:
    """A Patient whose create the EHR could not take, then refused at delivery: dead."""
    client = app.test_client()
    _fault(ehr, mode="drop", count=1)
    created = client.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON,
                          headers=admin)
    assert created.status_code == 201, created.data
    outbox_id = int(created.headers["X-Delivery-Status"].rsplit("outbox=", 1)[1])
    _fault(ehr, mode="nak-ar", count=1, text="assigning authority unknown")
    assert deliver_outbox(app).dead == 1
    return created.get_json()["id"], outbox_id


def test_staff_api_needs_a_token_and_the_integration_admin_role(app):
    client = app.test_client()
    missing = client.get("/admin/outbox")
    assert missing.status_code == 401 and missing.get_json()["resourceType"] == "OperationOutcome"
    assert client.get("/admin/outbox", headers={"Authorization": "Bearer forged.token.here"}).status_code == 401
    front = _token(app, "front_desk", "user/Patient.cruds")
    refused = client.get("/admin/outbox", headers=front)
    assert refused.status_code == 403
    assert "integration_admin" in refused.get_json()["issue"][0]["diagnostics"]
    assert client.post("/admin/outbox/1/replay", headers=front).status_code == 403


def test_dead_letters_are_listed_shown_and_counted(app, ehr, admin):
    pid, outbox_id = _dead_letter(app, ehr, admin)
    client = app.test_client()
    listed = client.get("/admin/outbox?status=dead", headers=admin).get_json()
    [item] = listed["items"]
    assert item["id"] == outbox_id and item["resource"] == f"Patient/{pid}"
    assert item["status"] == "dead" and "assigning authority unknown" in item["last_error"]
    assert {"backend": "ehr", "status": "dead", "messages": 1} in listed["counts"]
    shown = client.get(f"/admin/outbox/{outbox_id}", headers=admin).get_json()
    assert shown["content"]["identifier"][0]["value"] == "MRN-9001"  # what would be sent
    metrics = client.get("/metrics").data.decode()
    assert 'fhir_gateway_outbox_messages{backend="ehr",status="dead"} 1.0' in metrics


def test_replay_sends_the_current_version_and_closes_the_dead_letter(app, ehr, admin):
    pid, outbox_id = _dead_letter(app, ehr, admin)
    client = app.test_client()
    # staff fix the record first (it still owes the EHR its create, so the update queues)
    fixed = dict(PATIENT, id=pid, birthDate="1972-11-03")
    assert client.put(f"/fhir/Patient/{pid}", data=json.dumps(fixed), content_type=FHIR_JSON,
                      headers=admin).status_code == 200
    replayed = client.post(f"/admin/outbox/{outbox_id}/replay", headers=admin)
    assert replayed.status_code == 200, replayed.data
    row = replayed.get_json()
    assert row["id"] == outbox_id and row["status"] == "pending" and row["attempts"] == 0
    assert row["version"] == 2 and row["interaction"] == "create"
    assert row["note"].startswith("replayed by t-integration_admin")
    assert client.post(f"/admin/outbox/{outbox_id}/replay", headers=admin).status_code == 409
    assert deliver_outbox(app).delivered == 2  # the create first (its own place), then the update
    with urllib.request.urlopen(ehr.inbox_url, timeout=5) as response:
        accepted = [m for m in json.loads(response.read()) if m["ack_code"] == "AA"]
    assert [m["type"].split("^")[1] for m in accepted] == ["A04", "A08"]
    assert "|19721103|" in accepted[0]["raw"]  # the current version, not the stale one


def test_discard_needs_a_reason_and_only_takes_dead_letters(app, ehr, admin):
    _pid, outbox_id = _dead_letter(app, ehr, admin)
    client = app.test_client()
    no_reason = client.post(f"/admin/outbox/{outbox_id}/discard", json={}, headers=admin)
    assert no_reason.status_code == 400 and no_reason.get_json()["issue"][0]["expression"] == ["reason"]
    done = client.post(f"/admin/outbox/{outbox_id}/discard", headers=admin,
                       json={"reason": "registered by hand in the EHR, ticket 4411"})
    assert done.status_code == 200 and done.get_json()["status"] == "discarded"
    assert done.get_json()["closed_by"].startswith("t-integration_admin")
    again = client.post(f"/admin/outbox/{outbox_id}/discard", headers=admin, json={"reason": "x"})
    assert again.status_code == 409


def test_replay_all_dead_letters_of_a_backend(app, ehr, admin):
    _dead_letter(app, ehr, admin)
    client = app.test_client()
    answer = client.post("/admin/outbox/replay", json={"backend": "ehr"}, headers=admin).get_json()
    assert len(answer["replayed"]) == 1 and answer["skipped"] == []
    assert client.get("/admin/outbox?status=dead", headers=admin).get_json()["items"] == []


@pytest.mark.parametrize("request_args, status", [
    (("get", "/admin/outbox?status=lost"), 400),
    (("get", "/admin/outbox?limit=0"), 400),
    (("get", "/admin/outbox?limit=ten"), 400),
    (("get", "/admin/outbox/999999"), 404),
    (("post", "/admin/outbox/999999/replay"), 404),
    (("get", "/admin/outbox/not-a-number"), 404),
])
def test_bad_requests_get_an_operation_outcome(app, admin, request_args, status):
    method, url = request_args
    response = getattr(app.test_client(), method)(url, headers=admin)
    assert response.status_code == status
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_malformed_json_body_is_400(app, admin):
    response = app.test_client().post("/admin/outbox/1/discard", data="{reason:", headers=admin,
                                      content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["issue"][0]["diagnostics"]


def test_staff_calls_are_audited(app, ehr, admin):
    _pid, outbox_id = _dead_letter(app, ehr, admin)
    client = app.test_client()
    client.get(f"/admin/outbox/{outbox_id}", headers=admin)
    client.post(f"/admin/outbox/{outbox_id}/discard", headers=admin, json={"reason": "fixed by hand"})
    client.get("/admin/outbox", headers=_token(app, "front_desk", "user/Patient.rs"))  # refused: audited too
    events = client.get("/fhir/AuditEvent?_count=200", headers=admin).get_json()["entry"]
    whats = [ent.get("what", {}).get("reference") for e in events for ent in e["resource"].get("entity", [])]
    assert f"outbox/{outbox_id}" in whats
    queries = [base64.b64decode(ent["query"]).decode() for e in events
               for ent in e["resource"].get("entity", []) if "query" in ent]
    assert f"outbox/{outbox_id}/$discard" in queries
    assert any(e["resource"]["outcome"] == "4" and e["resource"].get("outcomeDesc", "").startswith("this operation needs role")
               for e in events)
