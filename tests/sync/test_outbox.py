"""The transactional outbox against the sandbox HL7 v2 EHR over real sockets: retries with
backoff, dead letters (refusal, tries spent, too old), leases between workers, transactions
carrying several backend writes, the worker command and the retention job."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import pytest

from gateway.app import create_app
from gateway.services.canonical import utc_now
from gateway.services.outbox_delivery import OutboxDeliverer
from gateway.settings import settings_from_mapping
from gateway.store.outbox import OutboxRepository
from outbox_helpers import deliver_outbox, outbox_rows

FHIR_JSON = "application/fhir+json"


def _patient(mrn: str = "MRN-6001") -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": "urn:fhir-gateway:mrn", "value": mrn}],
            "name": [{"family": "Okafor", "given": ["Chinedu"]}], "gender": "male", "birthDate": "1972-11-02"}


def _backend(ehr) -> dict:
    return {"name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.2.0",
            "endpoint": ehr.mllp_url, "resources": ["Patient", "Appointment"],
            "options": {"read_timeout": 1.5, "assigning_authority": "CLINIC"}}


@pytest.fixture
def make_gateway(ehr, settings_overrides):
    apps = []

    def build(**settings):
        app = create_app(settings_from_mapping(dict(settings_overrides, backends=[_backend(ehr)], **settings)))
        apps.append(app)
        return app
    yield build
    for app in apps:
        app.extensions["fhir_gateway"].db.dispose()


def _fault(ehr, **body) -> None:
    request = urllib.request.Request(f"{ehr.http_url}/faults", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).read()


def _inbox(ehr) -> list[dict]:
    with urllib.request.urlopen(ehr.inbox_url, timeout=5) as response:
        return json.loads(response.read())


def _queue(app, ehr, mrn: str = "MRN-6001") -> str:
    """A Patient create the EHR could not take: stored, with a pending outbox row."""
    _fault(ehr, mode="drop", count=1)
    created = app.test_client().post("/fhir/Patient", data=json.dumps(_patient(mrn)), content_type=FHIR_JSON)
    assert created.status_code == 201 and created.headers["X-Delivery-Status"].startswith("queued")
    return created.get_json()["id"]


def test_a_refusal_at_delivery_is_dead_lettered_at_once_and_the_record_kept(make_gateway, ehr):
    app = make_gateway()
    pid = _queue(app, ehr)
    _fault(ehr, mode="nak-ar", count=1, text="PID-3 assigning authority unknown")
    done = deliver_outbox(app)
    assert (done.delivered, done.retried, done.dead) == (0, 0, 1)
    [row] = outbox_rows(app)
    assert row["status"] == "dead" and row["attempts"] == 2 and row["finished"]
    assert "PID-3 assigning authority unknown" in row["last_error"]
    assert app.test_client().get(f"/fhir/Patient/{pid}").status_code == 200  # never lost


def test_tries_are_spent_then_dead_lettered(make_gateway, ehr):
    app = make_gateway(outbox_max_attempts=3)
    _queue(app, ehr)
    _fault(ehr, mode="nak-ae", count=5)
    assert deliver_outbox(app).retried == 1  # try 2 of 3
    assert deliver_outbox(app, ahead_seconds=7200).dead == 1  # try 3 of 3 (after its backoff)
    [row] = outbox_rows(app)
    assert row["status"] == "dead" and row["attempts"] == 3 and row["last_error"].startswith("AE")


def test_a_row_older_than_the_maximum_age_is_dead_lettered(make_gateway, ehr):
    app = make_gateway(outbox_max_age="1h")
    _queue(app, ehr)
    _fault(ehr, mode="nak-ae", count=1)
    assert deliver_outbox(app, ahead_seconds=2 * 3600).dead == 1


def test_backoff_waits_between_tries_and_grows(make_gateway, ehr):
    app = make_gateway(outbox_retry_base_seconds=60, outbox_retry_cap_seconds=600)
    _queue(app, ehr)
    assert deliver_outbox(app, ahead_seconds=0).tried == 0  # not due yet: it waits its backoff
    db = app.extensions["fhir_gateway"].db
    with db.read() as session:
        [row] = OutboxRepository(session).page()
        first_wait = (row.next_attempt_at - row.last_attempt_at).total_seconds()
    assert 0 <= first_wait <= 60
    _fault(ehr, mode="nak-ae", count=1)
    assert deliver_outbox(app, ahead_seconds=3600).retried == 1
    with db.read() as session:
        [row] = OutboxRepository(session).page()
        assert row.attempts == 2 and row.next_attempt_at > row.last_attempt_at


def test_two_workers_never_send_one_row_twice_and_a_dead_workers_lease_expires(make_gateway, ehr):
    app = make_gateway()
    _queue(app, ehr)
    container = app.extensions["fhir_gateway"]
    later = utc_now() + timedelta(hours=1)
    with container.db.transaction() as session:
        outbox = OutboxRepository(session)
        [pk] = outbox.due_heads(later)
        assert outbox.claim(pk, "worker-a", later, later + timedelta(minutes=5))
        assert not outbox.claim(pk, "worker-b", later, later + timedelta(minutes=5))
    # worker-a died holding the lease: worker-b takes the row once the lease has expired
    b = OutboxDeliverer(container.db, container.fhir.delivery, container.fhir.rules,
                        lambda: later + timedelta(minutes=4))
    assert b.deliver_due("worker-b").tried == 0
    b.clock = lambda: later + timedelta(minutes=6)
    assert b.deliver_due("worker-b").delivered == 1
    # worker-a wakes up and tries to record its outcome: the lease is gone, it writes nothing
    late = OutboxDeliverer(container.db, container.fhir.delivery, container.fhir.rules, lambda: later)
    from gateway.services.outbox_delivery import DeliveryRound, _Outcome
    lost = DeliveryRound()
    late._record(pk, "worker-a", _Outcome(False, error="late"), lost)
    assert lost.lost_leases == 1
    [row] = outbox_rows(app)
    assert row["status"] == "delivered" and row["last_error"] != "late"
    assert sum(1 for m in _inbox(ehr) if m["ack_code"] == "AA") == 1


def test_only_the_oldest_pending_row_of_a_backend_is_due(make_gateway, ehr):
    app = make_gateway()
    first = _queue(app, ehr, "MRN-6001")
    second = app.test_client().post("/fhir/Patient", data=json.dumps(_patient("MRN-6002")),
                                    content_type=FHIR_JSON)
    assert second.headers["X-Delivery-Status"].startswith("queued")  # behind the first
    with app.extensions["fhir_gateway"].db.read() as session:
        heads = OutboxRepository(session).due_heads(utc_now() + timedelta(hours=1))
    assert len(heads) == 1
    assert deliver_outbox(app).delivered == 2
    delivered = [m["raw"] for m in _inbox(ehr) if m["ack_code"] == "AA"]
    assert "MRN-6001" in delivered[0] and "MRN-6002" in delivered[1] and first


def test_a_transaction_with_several_backend_writes_is_queued_whole_and_delivered_in_order(make_gateway, ehr):
    app = make_gateway()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111", "resource": _patient("MRN-6101"),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Appointment", "status": "booked",
                      "start": "2026-12-10T09:00:00Z", "end": "2026-12-10T09:30:00Z",
                      "participant": [{"actor": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"},
                                       "status": "accepted"}]},
         "request": {"method": "POST", "url": "Appointment"}}]}
    response = app.test_client().post("/fhir", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert response.status_code == 200, response.data
    assert _inbox(ehr) == []  # nothing reaches the EHR before the whole transaction committed
    assert [r["status"] for r in outbox_rows(app)] == ["pending", "pending"]
    assert deliver_outbox(app).delivered == 2
    assert [m["type"].split("^")[0] for m in _inbox(ehr)] == ["ADT", "SIU"]


def test_a_rolled_back_transaction_leaves_no_outbox_row(make_gateway, ehr):
    app = make_gateway()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient("MRN-6201"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "gender": "M"}, "request": {"method": "POST", "url": "Patient"}}]}
    response = app.test_client().post("/fhir", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert response.status_code == 400
    assert outbox_rows(app) == [] and _inbox(ehr) == []


def test_worker_once_command_delivers_and_reports_counts(make_gateway, ehr, settings_overrides, tmp_path):
    app = make_gateway(outbox_retry_base_seconds=1, outbox_retry_cap_seconds=1)
    _queue(app, ehr)
    config = tmp_path / "gateway.toml"
    backend = _backend(ehr)
    config.write_text(
        f'database_url = "{settings_overrides["database_url"]}"\nauth = "off"\n'
        f'outbox_retry_base_seconds = 1\noutbox_retry_cap_seconds = 1\n'
        f'data_dir = "{tmp_path}"\n\n[[backends]]\nname = "ehr"\ndialect = "hl7v2"\n'
        f'profile = "{backend["profile"]}"\nendpoint = "{backend["endpoint"]}"\n'
        f'resources = ["Patient", "Appointment"]\n[backends.options]\nassigning_authority = "CLINIC"\n')
    env = {"GATEWAY_CONFIG": str(config), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    time.sleep(1.1)  # the first retry is due within a second
    run = subprocess.run([sys.executable, "-m", "gateway.cli", "worker", "--once"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1])["delivered"] == 1
    assert [r["status"] for r in outbox_rows(app)] == ["delivered"]


def test_prune_keeps_pending_and_dead_rows(make_gateway, ehr):
    app = make_gateway()
    app.test_client().post("/fhir/Patient", data=json.dumps(_patient("MRN-6301")), content_type=FHIR_JSON)
    _queue(app, ehr, "MRN-6302")
    db = app.extensions["fhir_gateway"].db
    with db.transaction() as session:
        assert OutboxRepository(session).prune(utc_now() + timedelta(days=1)) == 1
    assert [r["status"] for r in outbox_rows(app)] == ["pending"]


def test_prune_job_also_clears_old_delivered_notifications(make_gateway, ehr, settings_overrides):
    from gateway.store.notifications import NotificationRepository
    from gateway.sync.housekeeping import housekeeping_jobs
    app = make_gateway()
    db = app.extensions["fhir_gateway"].db
    old = utc_now() - timedelta(days=40)
    with db.transaction() as session:
        notes = NotificationRepository(session)
        notes.enqueue(["sub-1"], "Patient", "p1", 1, "create", old)
        notes.enqueue(["sub-1"], "Patient", "p2", 1, "create", old)
        session.flush()
        session.connection().exec_driver_sql(
            "UPDATE subscription_notifications SET status = 'delivered' WHERE resource_id = 'p1'")
    settings = app.extensions["fhir_gateway"].settings
    [job] = [j for j in housekeeping_jobs(settings, db) if j.name == "outbox-prune"]
    assert job.run()["notifications_pruned"] == 1
    with db.read() as session:
        assert NotificationRepository(session).counts() == {"pending": 1, "delivered": 0, "dead": 0, "cancelled": 0}


def test_a_backend_that_gave_no_retry_hint_is_retried_on_the_backoff_schedule(make_gateway, ehr):
    """A dropped connection says nothing about when to come back: the first retry is within
    the base delay (2 s), not the 30 s a client is told in Retry-After."""
    app = make_gateway()
    _queue(app, ehr)
    [row] = outbox_rows(app)
    from datetime import datetime
    wait = (datetime.fromisoformat(row["next_attempt_at"].replace("Z", "+00:00"))
            - datetime.fromisoformat(row["last_attempt_at"].replace("Z", "+00:00"))).total_seconds()
    assert 0 <= wait <= 2
