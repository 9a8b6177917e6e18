"""POST /ingest/<backend>/events, the contract over a real socket (SQLite and PostgreSQL): a
missing, malformed, wrong-secret, tampered, stale or future signature is a 401 with only a
security AuditEvent recorded; malformed JSON and bodies that are no event are 400 (kept raw,
refused); oversize bodies 413; unknown backends 404; unknown event types 422, the same on
redelivery; the counts reach /metrics; and bad webhook settings stop the start-up."""
from __future__ import annotations

import http.client
import json
import time

import pytest

from conformance.sandbox.rest_ehr import RestEhr
from gateway.app import create_app
from gateway.settings import ConfigError, settings_from_mapping
from ingest_world import SECRET, World, backend_config, event, signature
from ingest_world import http as call

pytestmark = pytest.mark.live


@pytest.fixture
def vendor():
    with RestEhr("127.0.0.1") as ehr:
        yield ehr


@pytest.fixture
def settings_overrides(settings_overrides, vendor):
    plain = backend_config(vendor)
    plain.update(name="plain", resources=[])
    del plain["options"]["webhook_secret"]
    return dict(settings_overrides, backends=[backend_config(vendor, webhook_max_bytes=2048), plain])


@pytest.fixture
def world(vendor, live_gateway):
    base, app = live_gateway
    return World(vendor, base, app)


@pytest.fixture
def record(world) -> str:
    return world.staff("POST", "patients", {"first_name": "Ana", "last_name": "Rivera",
                                            "date_of_birth": "1985-03-14"})["id"]


def _outcome(answer: dict) -> str:
    assert answer["resourceType"] == "OperationOutcome"
    return answer["issue"][0]["diagnostics"]


def _alerts(world: World) -> list[dict]:
    bundle = world.fhir("GET", "AuditEvent?agent=backend:vendor&outcome=4")[1]
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["type"]["code"] == "110113"]


BAD_SIGNATURES = {
    "missing": lambda body: {},
    "empty": lambda body: {"X-Sandbox-Signature": ""},
    "malformed": lambda body: {"X-Sandbox-Signature": "sha256=deadbeef"},
    "no v1": lambda body: {"X-Sandbox-Signature": f"t={int(time.time())}"},
    "wrong secret": lambda body: {"X-Sandbox-Signature": signature(body, secret="another-" + SECRET)},
    "tampered body": lambda body: {"X-Sandbox-Signature": signature(body.replace(b"patient", b"patiens"))},
    "stale": lambda body: {"X-Sandbox-Signature": signature(body, timestamp=int(time.time()) - 301)},
    "future": lambda body: {"X-Sandbox-Signature": signature(body, timestamp=int(time.time()) + 301)},
}


@pytest.mark.parametrize("case", list(BAD_SIGNATURES))
def test_a_bad_signature_is_401_and_only_a_security_event_is_recorded(world, record, case):
    body = event("patient.created", record)
    status, answer, headers = world.post_event(body, BAD_SIGNATURES[case](body))
    assert status == 401 and "X-Sandbox-Signature" in headers["WWW-Authenticate"]
    assert headers["Content-Type"].startswith("application/fhir+json") and _outcome(answer)
    assert world.inbound() == [] and world.local_id("Patient", record) is None
    [alert] = _alerts(world)
    assert alert["subtype"][0]["code"] == "110126" and alert["agent"][0]["network"]["address"] == "127.0.0.1"
    assert SECRET not in json.dumps(alert)


def test_a_signature_within_the_tolerance_is_accepted(world, record):
    body = event("patient.created", record)
    status, answer, headers = world.signed(body, timestamp=int(time.time()) - 240)
    assert status == 200 and headers["X-Ingest-Outcome"] == "applied", answer
    pid = world.local_id("Patient", record)
    assert _outcome(answer) == f"patient.created: Patient/{pid} created"


@pytest.mark.parametrize("body, problem", [
    (b"{not json", "not valid UTF-8 JSON"),
    (b"\xff\xfe{}", "not valid UTF-8 JSON"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps({"type": "patient.updated", "resource": {"id": "p-1"}}).encode(), "no id"),
    (json.dumps({"id": "evt_1", "type": "patient.updated", "resource": {}}).encode(), "no record id"),
    (json.dumps({"id": {"x": 1}, "type": "patient.updated", "resource": {"id": "p-1"}}).encode(), "must be a string"),
])
def test_an_authenticated_body_that_is_no_event_is_400_and_kept(world, body, problem):
    status, answer, _ = world.signed(body)
    assert status == 400 and problem in _outcome(answer)
    [row] = world.inbound()
    assert row[0] is None and row[2] == "refused" and problem in row[3]
    assert world.rows("SELECT count(*) FROM resources") == [(0,)]


def test_an_oversize_body_is_413_and_nothing_is_recorded(world, record):
    body = json.dumps({"id": "evt_big", "type": "patient.updated", "resource": {"id": record},
                       "padding": "x" * 3000}).encode()
    status, answer, _ = world.signed(body)
    assert status == 413 and "2048 bytes" in _outcome(answer)
    # chunked, so no Content-Length tells the size up front
    host, port = world.root.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/ingest/vendor/events", body=iter([body[:1500], body[1500:]]), encode_chunked=True,
                 headers={"Content-Type": "application/json", "X-Sandbox-Signature": signature(body)})
    response = conn.getresponse()
    assert response.status == 413 and json.loads(response.read())["resourceType"] == "OperationOutcome"
    conn.close()
    assert world.inbound() == [] and _alerts(world) == []


@pytest.mark.parametrize("backend", ["nobody", "plain", "local"])
def test_a_backend_that_takes_no_events_is_404(world, record, backend):
    body = event("patient.created", record)
    status, answer, _ = world.post_event(body, {"X-Sandbox-Signature": signature(body)}, backend=backend)
    assert status == 404 and backend in _outcome(answer)
    assert world.inbound() == []


def test_an_unknown_event_type_is_422_recorded_and_the_same_on_redelivery(world, record):
    body = event("invoice.paid", record, "evt_invoice")
    for _ in range(2):
        status, answer, _ = world.signed(body)
        assert status == 422 and "invoice.paid" in _outcome(answer)
    [row] = world.inbound()
    assert row[:3] == ("evt_invoice", "invoice.paid", "refused")
    assert world.local_id("Patient", record) is None


def test_only_post_is_allowed(world):
    status, answer, headers = call("GET", world.ingest)
    assert status == 405 and "POST" in headers["Allow"] and _outcome(answer)


def test_outcomes_are_counted_by_backend(world, record):
    body = event("patient.created", record, "evt_counted")
    world.signed(body)
    world.signed(body)
    world.post_event(body, {"X-Sandbox-Signature": "t=1,v1=00"})
    world.post_event(body, {"X-Sandbox-Signature": signature(body)}, backend="nobody")
    text = world.app.test_client().get("/metrics").get_data(as_text=True)
    for outcome in ("applied", "duplicate", "unauthorized"):
        assert f'fhir_gateway_inbound_events_total{{backend="vendor",outcome="{outcome}"}} 1.0' in text
    assert 'fhir_gateway_inbound_events_total{backend="unknown",outcome="invalid"} 1.0' in text
    assert "nobody" not in text


@pytest.mark.parametrize("options, problem", [
    ({"webhook_secret": "short"}, "webhook_secret"),
    ({"webhook_secret": 12345678901234567890123456789012345}, "webhook_secret"),
    ({"webhook_secret": " " + SECRET}, "webhook_secret"),
    ({"webhook_tolerance_seconds": 300}, "webhook_secret"),
    ({"webhook_secret": SECRET, "webhook_tolerance_seconds": 0}, "webhook_tolerance_seconds"),
    ({"webhook_secret": SECRET, "webhook_tolerance_seconds": "300"}, "webhook_tolerance_seconds"),
    ({"webhook_secret": SECRET, "webhook_max_bytes": 10 ** 9}, "webhook_max_bytes"),
])
def test_bad_webhook_settings_stop_the_start_up(options, problem):
    raw = {"name": "vendor", "dialect": "rest", "profile": "sandbox-rest-intake@1.3.0",
           "endpoint": "http://127.0.0.1:9/api/v1", "options": {"api_key": "k", **options}}
    with pytest.raises(ConfigError, match=rf"backends\[0\]\.options\.{problem}"):
        settings_from_mapping({"backends": [raw]})


def test_webhook_settings_belong_to_rest_backends_with_a_profile_that_has_events(settings_overrides):
    v2 = {"name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.2.0",
          "endpoint": "mllp://127.0.0.1:9", "options": {"webhook_secret": SECRET}}
    with pytest.raises(ConfigError, match="rest backends only"):
        settings_from_mapping({"backends": [v2]})
    old = {"name": "vendor", "dialect": "rest", "profile": "sandbox-rest-intake@1.2.0",
           "endpoint": "http://127.0.0.1:9/api/v1", "options": {"api_key": "k", "webhook_secret": SECRET}}
    with pytest.raises(ConfigError, match="declares no webhook events"):
        create_app(settings_from_mapping(dict(settings_overrides, backends=[old])))


def test_a_flood_from_one_address_is_throttled_before_the_signature_costs_anything(settings_overrides):
    """Webhook POSTs spend the per-address budget first: past it, 429 with Retry-After and no
    security AuditEvent, so forged events cannot flood the audit trail."""
    app = create_app(settings_from_mapping(dict(settings_overrides, rate_limit="on",
                                                rate_limit_default="2/minute")))
    try:
        client = app.test_client()
        body = event("patient.created", "p-000001")
        answers = [client.post("/ingest/vendor/events", data=body, content_type="application/json")
                   for _ in range(3)]
        assert [a.status_code for a in answers] == [401, 401, 429]
        assert int(answers[2].headers["Retry-After"]) >= 1
        assert answers[2].get_json()["issue"][0]["code"] == "throttled"
        events = client.get("/fhir/AuditEvent?_count=100&outcome=4").get_json().get("entry", [])
        alerts = [e for e in events if e["resource"]["type"]["code"] == "110113"]
        assert len(alerts) == 2
    finally:
        app.extensions["fhir_gateway"].db.dispose()
