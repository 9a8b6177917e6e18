"""Reads audited through the journal (the default): the event is durable in the journal before
the response leaves, the background drainer chains it, an AuditEvent search or `audit verify`
sees it at once, leftovers of an earlier process are chained at start, and `inline` still
commits each read's event before answering. SQLite and PostgreSQL."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gateway.settings import ConfigError, settings_from_mapping
from gateway.store.audit import AuditRepository
from gateway.store.audit_journal import AuditJournal
from gateway.sync.audit_drainer import AuditDrainer

HEADERS = {"Content-Type": "application/fhir+json"}
PATIENT = {"resourceType": "Patient", "name": [{"family": "Journal", "given": ["Jo"]}]}


def _app(settings_overrides, **extra):
    from gateway.app import create_app
    return create_app(settings_from_mapping(dict(settings_overrides, **extra)))


def _chain_count(app) -> int:
    with app.extensions["fhir_gateway"].db.read() as session:
        return AuditRepository(session).verify().checked


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def slow_app(settings_overrides):
    """A journaled gateway whose background drainer waits an hour between drains."""
    app = _app(settings_overrides, audit_drain_interval_ms=3_600_000)
    yield app
    app.extensions["fhir_gateway"].db.dispose()


def test_a_reads_event_is_in_the_journal_before_the_response_and_searchable_at_once(slow_app, tmp_path):
    client = slow_app.test_client()
    pid = client.post("/fhir/Patient", json=PATIENT, headers=HEADERS).get_json()["id"]
    journal_dir = Path(tmp_path) / "audit-journal"
    written = b"".join(p.read_bytes() for p in journal_dir.glob("*.jsonl"))
    assert client.get(f"/fhir/Patient/{pid}").status_code == 200
    after = b"".join(p.read_bytes() for p in journal_dir.glob("*.jsonl"))
    assert after.count(f"Patient/{pid}".encode()) > written.count(f"Patient/{pid}".encode())
    # the auditor's search drains first: the read is there although no drain ran since
    events = client.get(f"/fhir/AuditEvent?entity=Patient/{pid}").get_json()
    subtypes = [e["resource"]["subtype"][0]["code"] for e in events.get("entry", [])]
    assert "read" in subtypes and "create" in subtypes


def test_the_background_drainer_chains_journaled_reads_by_itself(settings_overrides):
    app = _app(settings_overrides, audit_drain_interval_ms=20)
    try:
        client = app.test_client()
        pid = client.post("/fhir/Patient", json=PATIENT, headers=HEADERS).get_json()["id"]
        before = _chain_count(app)
        for _ in range(5):
            assert client.get(f"/fhir/Patient/{pid}").status_code == 200
        assert _wait_for(lambda: _chain_count(app) == before + 5)
    finally:
        app.extensions["fhir_gateway"].db.dispose()


def test_audit_verify_drains_first_and_the_chain_holds(slow_app):
    client = slow_app.test_client()
    pid = client.post("/fhir/Patient", json=PATIENT, headers=HEADERS).get_json()["id"]
    client.get(f"/fhir/Patient/{pid}")
    client.get("/fhir/Patient?family=Journal")
    check = slow_app.extensions["fhir_gateway"].fhir.verify_audit_chain()
    assert check.broken_id is None and check.checked == 3


def test_events_left_by_an_earlier_process_are_chained_when_the_gateway_starts(settings_overrides, tmp_path):
    from gateway.services.audit import Agent, build_record
    from gateway.services.canonical import utc_now
    earlier = AuditJournal(Path(tmp_path) / "audit-journal")  # a worker that has since ended
    for n in range(3):
        earlier.append(build_record(Agent("front-desk-app"), "read", 200, utc_now(),
                                    [{"resourceType": "Patient", "id": f"p{n}"}]))
    earlier.close()
    app = _app(settings_overrides, audit_drain_interval_ms=20)
    try:
        assert _wait_for(lambda: _chain_count(app) == 3)
        assert _wait_for(lambda: list((Path(tmp_path) / "audit-journal").glob("*.jsonl")) == [])
        events = app.test_client().get("/fhir/AuditEvent?entity=Patient/p1").get_json()
        assert events["total"] == 1
    finally:
        app.extensions["fhir_gateway"].db.dispose()


def test_inline_reads_commit_their_event_before_answering(settings_overrides, tmp_path):
    app = _app(settings_overrides, audit_reads="inline")
    try:
        client = app.test_client()
        pid = client.post("/fhir/Patient", json=PATIENT, headers=HEADERS).get_json()["id"]
        client.get(f"/fhir/Patient/{pid}")
        assert _chain_count(app) == 2
        assert not (Path(tmp_path) / "audit-journal").exists()
    finally:
        app.extensions["fhir_gateway"].db.dispose()


def test_disposing_the_database_stops_the_drainer_thread(settings_overrides):
    app = _app(settings_overrides, audit_drain_interval_ms=3_600_000)
    client = app.test_client()
    pid = client.post("/fhir/Patient", json=PATIENT, headers=HEADERS).get_json()["id"]
    client.get(f"/fhir/Patient/{pid}")
    assert any(t.name == "audit-drain" and t.is_alive() for t in threading.enumerate())
    app.extensions["fhir_gateway"].db.dispose()  # must not wait the hour-long interval
    assert _wait_for(lambda: not any(t.name == "audit-drain" and t.is_alive()
                                     for t in threading.enumerate()), timeout=5)


def test_an_idle_drainer_thread_ends_and_a_new_append_starts_another():
    drains: list[int] = []
    drainer = AuditDrainer(lambda: drains.append(1), interval=0.005, idle_rounds=3)
    drainer.wake()
    assert _wait_for(lambda: drainer._thread is None, timeout=10)
    count = len(drains)
    drainer.wake()
    assert _wait_for(lambda: len(drains) > count, timeout=10)
    drainer.stop()


def test_a_failing_drain_is_logged_without_details_and_retried(caplog):
    calls: list[int] = []

    def failing():
        calls.append(1)
        raise RuntimeError("Patient Jane Doe secret")

    drainer = AuditDrainer(failing, interval=0.005, idle_rounds=3)
    with caplog.at_level("ERROR", logger="gateway.audit"):
        drainer.wake()
        assert _wait_for(lambda: len(calls) >= 2, timeout=10)
        drainer.stop()
    assert "RuntimeError" in caplog.text and "Jane" not in caplog.text


def test_a_bad_audit_reads_value_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match="audit_reads"):
        settings_from_mapping({"audit_reads": "later"})


def test_the_journal_directory_can_be_configured(settings_overrides, tmp_path):
    where = tmp_path / "elsewhere"
    app = _app(settings_overrides, audit_journal_dir=str(where), audit_drain_interval_ms=3_600_000)
    try:
        client = app.test_client()
        pid = client.post("/fhir/Patient", json=PATIENT, headers=HEADERS).get_json()["id"]
        client.get(f"/fhir/Patient/{pid}")
        assert len(AuditJournal(where).segments()) == 1
    finally:
        app.extensions["fhir_gateway"].db.dispose()


def test_the_audit_drain_command_chains_the_journal_and_verify_counts_it(settings_overrides, tmp_path):
    import json
    import subprocess
    import sys
    from gateway.services.audit import Agent, build_record
    from gateway.services.canonical import utc_now
    journal = AuditJournal(Path(tmp_path) / "audit-journal")
    for n in range(4):
        journal.append(build_record(Agent("app"), "read", 200, utc_now(),
                                    [{"resourceType": "Patient", "id": f"p{n}"}]))
    env = {"GATEWAY_DATABASE_URL": settings_overrides["database_url"], "PATH": "/usr/bin:/bin",
           "GATEWAY_DATA_DIR": str(tmp_path)}
    drained = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "drain"],
                             capture_output=True, text=True, env=env)
    assert drained.returncode == 0, drained.stderr
    assert json.loads(drained.stdout) == {"drained": 4, "segments_removed": 0,
                                          "unreadable_lines": 0, "backlog_bytes": 0}
    journal.append(build_record(Agent("app"), "read", 200, utc_now(),
                                [{"resourceType": "Patient", "id": "p9"}]))
    verified = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "verify"],
                              capture_output=True, text=True, env=env)
    assert json.loads(verified.stdout) == {"ok": True, "checked": 5, "first_broken": None,
                                           "reason": None}
