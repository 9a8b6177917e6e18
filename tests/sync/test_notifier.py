"""Subscriptions end to end over real sockets: writes through the API, transaction Bundles,
Patient $merge and an inbound HL7 v2 ADT enqueue exactly one notification per matching
Subscription in the write's transaction (none for other writes, none for a rolled-back
write); the notifier POSTs (no payload) or PUTs/DELETEs (payload) to a real HTTP receiver with
the channel's headers, retries with backoff on an injected clock, honours Retry-After,
dead-letters, sets the Subscription to error and back to active after a replay; two notifiers
never send one notification twice. SQLite and PostgreSQL."""
from __future__ import annotations

import json
import random
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.cli import main
from gateway.cli_subscriptions import build_notifier
from gateway.services.canonical import utc_now
from gateway.settings import settings_from_mapping
from gateway.store.models import AuditEventRow, SubscriptionNotificationRow as Row
from gateway.store.notifications import NotificationRepository

FHIR_JSON = "application/fhir+json"
A04 = ("MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124080000||ADT^A04^ADT_A01|IN-1|P|2.5.1\r"
       "EVN|A04|20261124080000\rPID|1||MRN-9001^^^CLINIC^MR||Rivera^Linh||19990721|F|||"
       "12 Elm St^^Springfield^IL^62703||555-0103^PRN^PH\rPV1|1|N\r")


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def app(settings_overrides):
    application = create_app(settings_from_mapping(dict(
        settings_overrides, notifier_max_attempts=4, subscription_error_after=3)))
    yield application
    application.extensions["fhir_gateway"].db.dispose()


@pytest.fixture
def container(app):
    return app.extensions["fhir_gateway"]


def notifier(container, clock=None, **kw):
    kw.setdefault("rng", random.Random(7))
    return build_notifier(container.settings, container.db, container.metrics,
                          **({"clock": clock} if clock else {}), **kw)


def subscribe(client, criteria: str, endpoint: str, payload: bool = False, header=("Authorization: Bearer hook-secret",)):
    channel = {"type": "rest-hook", "endpoint": endpoint, "header": list(header)}
    if payload:
        channel["payload"] = FHIR_JSON
    response = client.post("/fhir/Subscription", content_type=FHIR_JSON, data=json.dumps({
        "resourceType": "Subscription", "status": "requested", "reason": "test",
        "criteria": criteria, "channel": channel}))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def patient(family: str, **more) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family}], "gender": "female", **more}


def post(client, body) -> dict:
    response = client.post(f"/fhir/{body['resourceType']}", data=json.dumps(body), content_type=FHIR_JSON)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def put(client, body) -> dict:
    body = {k: v for k, v in body.items() if k != "meta"}
    response = client.put(f"/fhir/{body['resourceType']}/{body['id']}", data=json.dumps(body), content_type=FHIR_JSON)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def queued(container, status=None) -> list[SimpleNamespace]:
    with container.db.read() as session:  # plain copies: rows expire when the session ends
        rows = NotificationRepository(session).listing(status, 1000)
        return sorted((SimpleNamespace(**{c.key: getattr(r, c.key) for c in Row.__table__.columns})
                       for r in rows), key=lambda r: r.pk)


def sub_status(client, sid) -> dict:
    return client.get(f"/fhir/Subscription/{sid}").get_json()


def test_matching_writes_notify_once_each_without_payload(client, container, webhook_receiver):
    sid = subscribe(client, "Patient?family=Rivera", webhook_receiver.url)
    rivera = post(client, patient("Rivera"))
    smith = post(client, patient("Smith"))  # does not match: nothing
    rivera = put(client, dict(rivera, gender="male"))
    smith = put(client, dict(smith, name=[{"family": "Rivera"}]))  # now it matches
    assert client.delete(f"/fhir/Patient/{rivera['id']}").status_code == 200
    rows = queued(container)
    assert [(r.resource_id, r.version_id, r.interaction) for r in rows] == [
        (rivera["id"], 1, "create"), (rivera["id"], 2, "update"), (smith["id"], 2, "update"),
        (rivera["id"], 3, "delete")]
    assert {r.subscription_id for r in rows} == {sid} and {r.status for r in rows} == {"pending"}
    result = notifier(container).run_once()
    assert result.outcomes == {"delivered": 4} and result.ok
    got = webhook_receiver.wait_for(4)
    assert [(r["method"], r["path"], r["body"]) for r in got] == [("POST", "/hook", b"")] * 4
    assert all(r["headers"]["Authorization"] == "Bearer hook-secret" for r in got)
    assert {r.status for r in queued(container)} == {"delivered"}
    with container.db.read() as session:  # no payload, no PHI sent: no transmit AuditEvent
        assert session.execute(select(func.count()).select_from(AuditEventRow).where(
            AuditEventRow.interaction == "transmit")).scalar_one() == 0


def test_payload_is_put_as_the_version_and_a_delete_is_a_delete(client, container, webhook_receiver):
    sid = subscribe(client, "Patient?gender=female", webhook_receiver.url + "/fhir?tenant=7", payload=True)
    created = post(client, patient("Okafor"))
    put(client, dict(created, birthDate="1980-02-03"))
    assert client.delete(f"/fhir/Patient/{created['id']}").status_code == 200
    assert notifier(container).run_once().outcomes == {"delivered": 3}
    first, second, third = webhook_receiver.wait_for(3)
    path = f"/hook/fhir/Patient/{created['id']}?tenant=7"
    assert (first["method"], first["path"], second["method"], third["method"], third["path"]) == (
        "PUT", path, "PUT", "DELETE", path)
    assert first["headers"]["Content-Type"] == FHIR_JSON
    sent = json.loads(first["body"])
    assert sent["meta"]["versionId"] == "1" and "birthDate" not in sent
    assert json.loads(second["body"])["birthDate"] == "1980-02-03"
    assert third["body"] == b""
    # each transmission of PHI is an AuditEvent (DICOM Export), searchable by the patient
    events = client.get(f"/fhir/AuditEvent?entity=Patient/{created['id']}&_count=50").get_json()
    exports = [e["resource"] for e in events["entry"] if e["resource"]["type"]["code"] == "110106"]
    assert len(exports) == 3 and all(e["outcome"] == "0" for e in exports)
    assert exports[0]["agent"][0]["who"]["identifier"]["value"] == f"Subscription/{sid}"
    assert "tenant" not in json.dumps(exports)  # never the endpoint's query string


def test_appointment_criteria_on_a_patient(client, container, webhook_receiver):
    mine, other = post(client, patient("Mine")), post(client, patient("Other"))
    subscribe(client, f"Appointment?patient=Patient/{mine['id']}&status=booked", webhook_receiver.url)
    booked = {"resourceType": "Appointment", "status": "booked", "start": "2026-12-10T09:00:00Z",
              "end": "2026-12-10T09:30:00Z"}
    post(client, dict(booked, participant=[{"actor": {"reference": f"Patient/{other['id']}"}, "status": "accepted"}]))
    appt = post(client, dict(booked, participant=[{"actor": {"reference": f"Patient/{mine['id']}"}, "status": "accepted"}]))
    put(client, dict(appt, status="cancelled"))  # no longer matches
    assert [(r.resource_id, r.interaction) for r in queued(container)] == [(appt["id"], "create")]


def test_a_rolled_back_transaction_enqueues_nothing(client, container, webhook_receiver):
    subscribe(client, "Patient", webhook_receiver.url)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient("Rivera"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": dict(patient("Broken"), id="a"), "request": {"method": "PUT", "url": "Patient/b"}}]}
    assert client.post("/fhir", data=json.dumps(bundle), content_type=FHIR_JSON).status_code == 400
    assert queued(container) == [] and client.get("/fhir/Patient").get_json()["total"] == 0
    bundle["entry"].pop()
    assert client.post("/fhir", data=json.dumps(bundle), content_type=FHIR_JSON).status_code == 200
    assert len(queued(container)) == 1


def test_patient_merge_notifies_both_patients(client, container, webhook_receiver):
    subscribe(client, "Patient?family=Dup,Keep", webhook_receiver.url)
    dup, keep = post(client, patient("Dup")), post(client, patient("Keep"))
    merged = client.post("/fhir/Patient/$merge", content_type=FHIR_JSON, data=json.dumps({
        "resourceType": "Parameters", "parameter": [
            {"name": "source-patient", "valueReference": {"reference": f"Patient/{dup['id']}"}},
            {"name": "target-patient", "valueReference": {"reference": f"Patient/{keep['id']}"}}]}))
    assert merged.status_code == 200
    updates = [(r.resource_id, r.version_id) for r in queued(container) if r.interaction == "update"]
    assert sorted(updates) == sorted([(dup["id"], 2), (keep["id"], 2)])


def test_an_inbound_adt_notifies(settings_overrides, webhook_receiver):
    from gateway.services.inbound import InboundApplier
    from gateway.sync.inbound import InboundHandler
    from gateway.transports.mllp import MllpClient, MllpServer
    app = create_app(settings_from_mapping(dict(settings_overrides, backends=[{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.1.0",
        "endpoint": "mllp://127.0.0.1:9", "resources": [],
        "options": {"mrn_system": "urn:oid:1.2.3"}}])))
    container = app.extensions["fhir_gateway"]
    client = app.test_client()
    subscribe(client, "Patient?identifier=urn:oid:1.2.3|MRN-9001", webhook_receiver.url, payload=True)
    subscribe(client, "Patient?family=Nobody", webhook_receiver.url)
    backend = container.settings.backends[1]
    listener = MllpServer("127.0.0.1", 0, InboundHandler(backend, container.profiles[backend.profile],
                                                         InboundApplier(container.fhir))).start()
    try:
        with MllpClient("127.0.0.1", listener.port) as mllp:
            assert "|AA|" in mllp.send(A04)
        [row] = queued(container)
        assert (row.resource_type, row.interaction, row.version_id) == ("Patient", "create", 1)
        assert notifier(container).run_once().outcomes == {"delivered": 1}
        [got] = webhook_receiver.wait_for(1)
        assert got["method"] == "PUT" and json.loads(got["body"])["name"][0]["family"] == "Rivera"
    finally:
        listener.stop()
        container.db.dispose()


def test_a_subscription_made_elsewhere_is_seen_at_the_next_write(settings_overrides, client, container, webhook_receiver):
    """Two processes (two apps) on one database: the registry counter invalidates the cache."""
    post(client, patient("Warm"))  # this app's cache now holds "no subscriptions"
    other = create_app(settings_from_mapping(settings_overrides))
    try:
        subscribe(other.test_client(), "Patient", webhook_receiver.url)
    finally:
        other.extensions["fhir_gateway"].db.dispose()
    post(client, patient("Seen"))
    assert len(queued(container)) == 1


def test_receiver_down_backoff_dead_error_then_replay_recovers(client, container, webhook_receiver, monkeypatch, settings_overrides):
    sid = subscribe(client, "Patient", webhook_receiver.url)
    post(client, patient("Rivera"))
    webhook_receiver.stop()  # connection refused from now on
    clock = Clock()
    sender = notifier(container, clock)
    first = sender.run_once()
    assert first.outcomes == {"failed": 1} and not first.ok
    [row] = queued(container)
    assert row.attempts == 1 and row.last_error == "ConnectionError" and row.status == "pending"
    assert clock.now < row.next_attempt_at <= clock.now + timedelta(seconds=30)  # first ceiling: 30 s
    assert sender.run_once().claimed == 0  # not due yet
    for attempt in (2, 3):
        clock.advance(hours=1)
        assert sender.run_once().outcomes == {"failed": 1}
    subscription = sub_status(client, sid)  # 3 consecutive failures: error, with why
    assert subscription["status"] == "error" and "3 consecutive delivery failures" in subscription["error"]
    clock.advance(hours=1)
    assert sender.run_once().outcomes == {"dead": 1}  # 4th attempt = notifier_max_attempts
    assert [r.status for r in queued(container)] == ["dead"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "fhir_gateway_subscription_notifications_dead 1.0" in metrics
    assert 'fhir_gateway_subscription_notifications_total{outcome="dead"} 1.0' in metrics
    # the receiver comes back; an operator replays the dead letters
    webhook_receiver.start()
    for key in ("database_url", "data_dir"):
        monkeypatch.setenv(f"GATEWAY_{key.upper()}", str(settings_overrides[key]))
    monkeypatch.setenv("GATEWAY_AUTH", "off")
    assert main(["notifications", "replay", "--all-dead"]) == 0
    assert main(["notifications", "replay", "999999"]) == 1  # not a dead one
    assert sender.run_once().outcomes == {"delivered": 1}
    assert len(webhook_receiver.wait_for(1)) == 1
    subscription = sub_status(client, sid)
    assert subscription["status"] == "active" and "error" not in subscription
    assert [r.status for r in queued(container)] == ["delivered"]


def test_retry_after_is_honoured_and_max_age_dead_letters(client, container, webhook_receiver):
    subscribe(client, "Patient", webhook_receiver.url)
    post(client, patient("Rivera"))
    webhook_receiver.status, webhook_receiver.headers = 503, {"Retry-After": "900"}
    clock = Clock()
    sender = notifier(container, clock)
    assert sender.run_once().outcomes == {"failed": 1}
    [row] = queued(container)
    assert row.last_error == "HTTP 503" and row.next_attempt_at == clock.now + timedelta(seconds=900)
    clock.advance(hours=25)  # older than notifier_max_age (24h): the next failure is the last
    assert sender.run_once().outcomes == {"dead": 1}


def test_off_and_deleted_subscriptions_stop_their_pending_notifications(client, container, webhook_receiver):
    keep = subscribe(client, "Patient", webhook_receiver.url)
    stop = subscribe(client, "Patient", webhook_receiver.url)
    gone = subscribe(client, "Patient", webhook_receiver.url)
    post(client, patient("Rivera"))
    assert len(queued(container, "pending")) == 3
    put(client, dict(sub_status(client, stop), status="off"))
    assert client.delete(f"/fhir/Subscription/{gone}").status_code == 200
    assert {r.subscription_id for r in queued(container, "cancelled")} == {stop, gone}
    post(client, patient("Later"))  # off and deleted ones match nothing any more
    assert {r.subscription_id for r in queued(container, "pending")} == {keep}
    assert notifier(container).run_once().outcomes == {"delivered": 2}


def test_two_notifiers_never_send_one_notification_twice(client, container, webhook_receiver):
    subscribe(client, "Patient", webhook_receiver.url, payload=True)
    ids = {post(client, patient(f"P{i}"))["id"] for i in range(24)}
    notifiers = [notifier(container, holder=name, batch=5) for name in ("a", "b")]
    outcomes = []

    def drain(one):
        while (result := one.run_once()).claimed:
            outcomes.append(result)

    threads = [threading.Thread(target=drain, args=(n,)) for n in notifiers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    got = webhook_receiver.wait_for(24)
    paths = [r["path"] for r in got]
    assert len(paths) == 24 and {p.rsplit("/", 1)[1] for p in paths} == ids
    assert sum(r.outcomes.get("delivered", 0) for r in outcomes) == 24
    assert {r.status for r in queued(container)} == {"delivered"}


def test_cli_lists_and_a_failing_once_pass_exits_1(client, container, webhook_receiver, monkeypatch, settings_overrides, capsys):
    sid = subscribe(client, "Patient", webhook_receiver.url + "?key=secret")
    post(client, patient("Rivera"))
    for key in ("database_url", "data_dir"):
        monkeypatch.setenv(f"GATEWAY_{key.upper()}", str(settings_overrides[key]))
    monkeypatch.setenv("GATEWAY_AUTH", "off")
    webhook_receiver.status = 500
    capsys.readouterr()
    assert main(["notifier", "--once"]) == 1
    assert json.loads(capsys.readouterr().out)["outcomes"] == {"failed": 1}
    assert main(["subscriptions", "list"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["subscriptions"]
    assert listed["id"] == sid and listed["notifications"]["pending"] == 1
    assert "secret" not in listed["endpoint"] and listed["consecutive_failures"] == 1
    assert main(["notifications", "list", "--status", "pending"]) == 0
    [row] = json.loads(capsys.readouterr().out)["notifications"]
    assert row["last_error"] == "HTTP 500" and row["attempts"] == 1
    assert main(["notifications", "list", "--status", "bogus"]) == 2
    assert main(["notifications", "replay"]) == 2
