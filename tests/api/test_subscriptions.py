"""Subscription resources over the FHIR API: create (requested -> active), read, update, delete,
search; every refusal a clear 4xx OperationOutcome naming the element, with nothing stored;
SMART scopes: the criteria type must be searchable by the token, patient/ tokens may not
subscribe. SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import json

import pytest

from gateway.app import create_app
from gateway.settings import settings_from_mapping

FHIR_JSON = "application/fhir+json"
BASE = "http://gateway.test/fhir"
SUBSCRIPTION = {
    "resourceType": "Subscription", "status": "requested", "reason": "front desk board",
    "criteria": "Appointment?status=booked",
    "channel": {"type": "rest-hook", "endpoint": "https://apps.example.org/hooks/appointments",
                "payload": "application/fhir+json", "header": ["Authorization: Bearer s3cret"]},
}


def subscription(**changes) -> dict:
    body = copy.deepcopy(SUBSCRIPTION)
    for key, value in changes.items():
        if key.startswith("channel_"):
            name = key[len("channel_"):]
            if value is None:
                body["channel"].pop(name, None)
            else:
                body["channel"][name] = value
        elif value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def _post(client, body, headers=None):
    return client.post("/fhir/Subscription", data=json.dumps(body),
                       headers={"Content-Type": FHIR_JSON, **(headers or {})})


def _stored(client, headers=None) -> int:
    return client.get("/fhir/Subscription", headers=headers or {}).get_json()["total"]


def test_create_requested_is_activated_then_read_searched_updated_deleted(client):
    created = _post(client, subscription())
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["status"] == "active"  # R4: the server moves requested -> active
    sid = body["id"]
    assert client.get(f"/fhir/Subscription/{sid}").get_json()["channel"]["header"] == SUBSCRIPTION["channel"]["header"]
    for query in ("status=active", "type=rest-hook", "url=https://apps.example.org/hooks/appointments",
                  "criteria=Appointment", f"_id={sid}", "payload=application/fhir%2Bjson"):
        found = client.get(f"/fhir/Subscription?{query}").get_json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == [sid], query
    for query in ("status=off", "type=websocket", "url=https://apps.example.org/hooks", "criteria=Patient"):
        assert client.get(f"/fhir/Subscription?{query}").get_json()["total"] == 0, query
    off = dict(body, status="off")
    off.pop("meta")
    updated = client.put(f"/fhir/Subscription/{sid}", data=json.dumps(off), content_type=FHIR_JSON)
    assert updated.status_code == 200 and updated.get_json()["status"] == "off"
    assert client.get("/fhir/Subscription?status=off").get_json()["total"] == 1
    assert client.delete(f"/fhir/Subscription/{sid}").status_code == 200
    assert client.get(f"/fhir/Subscription/{sid}").status_code == 410


def test_capability_statement_offers_subscription(client):
    cs = client.get("/fhir/metadata").get_json()
    [entry] = [r for r in cs["rest"][0]["resource"] if r["type"] == "Subscription"]
    assert {i["code"] for i in entry["interaction"]} >= {"create", "read", "update", "delete", "search-type"}
    params = {p["name"]: p["type"] for p in entry["searchParam"]}
    assert params == {"_id": "token", "_lastUpdated": "date", "status": "token", "type": "token",
                      "url": "uri", "criteria": "string", "payload": "token"}
    assert "local-store@1.4.0" in entry["documentation"]


BAD = [
    ("websocket channel", dict(channel_type="websocket"), 422, "Subscription.channel.type", "rest-hook"),
    ("unserved criteria type", dict(criteria="Observation?code=1234-5"), 422, "Subscription.criteria", "Observation"),
    ("unsearchable type", dict(criteria="Binary"), 422, "Subscription.criteria", "Binary"),
    ("unknown parameter", dict(criteria="Patient?shoe-size=44"), 422, "Subscription.criteria", "shoe-size"),
    ("result parameter", dict(criteria="Patient?name=x&_count=5"), 422, "Subscription.criteria", "_count"),
    ("bad date value", dict(criteria="Appointment?date=tomorrow"), 422, "Subscription.criteria", "date"),
    ("absolute criteria", dict(criteria="https://other.example/fhir/Patient?name=x"), 422,
     "Subscription.criteria", "relative"),
    ("http to a network host", dict(channel_endpoint="http://apps.example.org/hook"), 422,
     "Subscription.channel.endpoint", "https"),
    ("credentials in the endpoint", dict(channel_endpoint="https://user:pw@apps.example.org/hook"), 422,
     "Subscription.channel.endpoint", "credentials"),
    ("no endpoint", dict(channel_endpoint=None), 422, "Subscription.channel.endpoint", "endpoint"),
    ("header without a colon", dict(channel_header=["Authorization Bearer x"]), 422,
     "Subscription.channel.header[0]", "Name: value"),
    ("header injecting a line", dict(channel_header=["X-Ok: 1", "X-A: b\r\nX-Evil: 1"]), 422,
     "Subscription.channel.header[1]", "Name: value"),
    ("reserved header", dict(channel_header=["Host: evil.example"]), 422,
     "Subscription.channel.header[0]", "set by the server"),
    ("xml payload", dict(channel_payload="application/fhir+xml"), 422, "Subscription.channel.payload", "payload"),
    ("client sets error", dict(status="error"), 422, "Subscription.status", "error"),
    ("missing criteria", dict(criteria=None), 400, "Subscription.criteria", "criteria"),
    ("missing channel", dict(channel=None), 400, "Subscription.channel", "channel"),
]


@pytest.mark.parametrize("label,changes,status,expression,words", BAD, ids=[b[0] for b in BAD])
def test_bad_subscriptions_are_refused_and_nothing_is_stored(client, label, changes, status, expression, words):
    response = _post(client, subscription(**changes))
    assert response.status_code == status, (label, response.get_json())
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert expression in issue.get("expression", []), issue
    assert words in issue["diagnostics"], issue
    assert _stored(client) == 0


def test_malformed_json_and_a_bad_update_store_nothing(client):
    assert client.post("/fhir/Subscription", data="{not json", content_type=FHIR_JSON).status_code == 400
    sid = _post(client, subscription()).get_json()["id"]
    bad = subscription(channel_type="email")
    bad["id"] = sid
    assert client.put(f"/fhir/Subscription/{sid}", data=json.dumps(bad), content_type=FHIR_JSON).status_code == 422
    current = client.get(f"/fhir/Subscription/{sid}").get_json()
    assert current["meta"]["versionId"] == "1" and current["channel"]["type"] == "rest-hook"


def test_loopback_http_is_accepted_and_other_http_only_when_allowed(settings_overrides):
    for endpoint in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook"):
        app = create_app(settings_from_mapping(settings_overrides))
        assert _post(app.test_client(), subscription(channel_endpoint=endpoint)).status_code == 201
        app.extensions["fhir_gateway"].db.dispose()
    app = create_app(settings_from_mapping(dict(settings_overrides, subscription_allow_http=True)))
    assert _post(app.test_client(), subscription(channel_endpoint="http://apps.internal/hook")).status_code == 201
    app.extensions["fhir_gateway"].db.dispose()


def test_a_bare_type_and_a_transaction_entry_are_subscriptions_too(client):
    assert _post(client, subscription(criteria="Patient")).status_code == 201
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": subscription(criteria="Coverage?status=active"), "request": {"method": "POST", "url": "Subscription"}},
        {"resource": subscription(channel_type="websocket"), "request": {"method": "POST", "url": "Subscription"}}]}
    refused = client.post("/fhir", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert refused.status_code == 422 and _stored(client) == 1
    bundle["entry"].pop()
    done = client.post("/fhir", data=json.dumps(bundle), content_type=FHIR_JSON).get_json()
    assert done["entry"][0]["resource"]["status"] == "active" and _stored(client) == 2


# -- SMART scopes ------------------------------------------------------------------------------

@pytest.fixture
def secured(settings_overrides):
    app = create_app(settings_from_mapping(dict(settings_overrides, auth="on")))
    yield app, app.test_client()
    app.extensions["fhir_gateway"].db.dispose()


def _token(app, scope: str, role: str = "front_desk", patient: str | None = None) -> dict:
    issued = app.extensions["fhir_gateway"].auth.issue("subs-app", role, scope, BASE, patient=patient)
    return {"Authorization": f"Bearer {issued['access_token']}"}


def test_a_token_subscribes_only_to_types_it_may_search(secured):
    app, client = secured
    admin = _token(app, "system/*.cruds", "integration_admin")
    scheduler = _token(app, "user/Subscription.cruds user/Appointment.rs")
    assert _post(client, subscription(), scheduler).status_code == 201
    refused = _post(client, subscription(criteria="Patient?family=Chalmers"), scheduler)
    assert refused.status_code == 403, refused.get_json()
    assert "Patient" in refused.get_json()["issue"][0]["diagnostics"]
    # a transaction entry is checked the same way
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": subscription(criteria="Patient"), "request": {"method": "POST", "url": "Subscription"}}]}
    assert client.post("/fhir", data=json.dumps(bundle), headers={**scheduler, "Content-Type": FHIR_JSON}).status_code == 403
    assert _stored(client, admin) == 1


def test_patient_scoped_tokens_may_not_subscribe(secured):
    app, client = secured
    admin = _token(app, "system/*.cruds", "integration_admin")
    pid = client.post("/fhir/Patient", data=json.dumps({"resourceType": "Patient", "gender": "male"}),
                      headers={**admin, "Content-Type": FHIR_JSON}).get_json()["id"]
    patient_app = _token(app, "patient/Subscription.cruds patient/Appointment.rs", patient=pid)
    refused = _post(client, subscription(criteria=f"Appointment?patient=Patient/{pid}"), patient_app)
    assert refused.status_code == 403 and "patient/" in refused.get_json()["issue"][0]["diagnostics"]
    # a user/ Subscription scope does not widen a patient/ read into a feed of every patient
    mixed = _token(app, "user/Subscription.cruds patient/Appointment.rs", patient=pid)
    refused = _post(client, subscription(criteria=f"Appointment?patient=Patient/{pid}"), mixed)
    assert refused.status_code == 403 and "compartment" in refused.get_json()["issue"][0]["diagnostics"]
    assert _stored(client, admin) == 0
    events = client.get("/fhir/AuditEvent?outcome=4&_count=50", headers=admin).get_json()
    assert events["total"] >= 2  # the refusals are audited
