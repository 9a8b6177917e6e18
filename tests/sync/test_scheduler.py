"""The scheduler: due jobs run once across schedulers, leases expire, failures are retried
sooner and recorded without PHI, housekeeping purges only what expired, the audit jobs drain
and verify the chain, /metrics shows job health, and the CLI drives it. SQLite and PostgreSQL."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from gateway.cli import main
from gateway.settings import ConfigError, settings_from_mapping
from gateway.store.audit import AuditRecord
from gateway.store.audit_journal import AuditJournal
from gateway.store.db import Database
from gateway.store.jobs import JobRepository
from gateway.store.models import (AuthCodeRow, LaunchContextRow, RefreshTokenRow, RevokedTokenRow,
                                  ScheduledJobRow, UsedAssertionRow)
from gateway.sync.housekeeping import housekeeping_jobs
from gateway.sync.scheduler import Job, JobFailed, Scheduler

HEADERS = {"Content-Type": "application/fhir+json"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 5, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def _counting_job(name="count", every=timedelta(hours=1), calls=None, **kw):
    calls = [] if calls is None else calls
    return Job(name, every, lambda: calls.append(1) or {"n": len(calls)}, **kw), calls


def test_a_due_job_runs_once_then_waits_for_its_interval(db):
    clock = Clock()
    job, calls = _counting_job()
    scheduler = Scheduler(db, [job], clock=clock)
    assert [r.ran for r in scheduler.run_due()] == [True]
    assert [r.ran for r in scheduler.run_due()] == [False]
    clock.advance(minutes=59)
    assert scheduler.run_due()[0].ran is False
    clock.advance(minutes=2)
    run = scheduler.run_due()[0]
    assert run.ran and run.ok and json.loads(run.detail) == {"n": 2}
    assert len(calls) == 2
    status = scheduler.status()[0]
    assert status["runs"] == 2 and status["last_outcome"] == "ok" and not status["running"]


def test_two_schedulers_never_run_one_job_at_the_same_time(db):
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow():
        calls.append(1)
        started.set()
        release.wait(10)
        return {}

    job = Job("slow", timedelta(hours=1), slow)
    first = Scheduler(db, [job], holder="a")
    second = Scheduler(db, [job], holder="b")
    runner = threading.Thread(target=first.run_due)
    runner.start()
    assert started.wait(10)
    assert second.run_due()[0].ran is False       # due, but a's lease is live
    assert second.run_now("slow").ran is False     # not even by hand
    release.set()
    runner.join(10)
    assert calls == [1]


def test_concurrent_passes_run_a_due_job_exactly_once(db):
    calls = []
    job = Job("once", timedelta(hours=1), lambda: calls.append(1) or time.sleep(0.05) or {})
    schedulers = [Scheduler(db, [job], holder=f"s{i}") for i in range(4)]
    threads = [threading.Thread(target=s.run_due) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert calls == [1]


def test_a_crashed_runs_lease_expires_and_another_scheduler_takes_the_job(db):
    clock = Clock()
    job, calls = _counting_job(lease=timedelta(minutes=15))
    Scheduler(db, [job], clock=clock)  # creates the row
    with db.transaction() as session:  # "a" claims and dies without finishing
        assert JobRepository(session).claim("count", "a", clock(), clock() + job.lease)
    survivor = Scheduler(db, [job], clock=clock, holder="b")
    assert survivor.run_due()[0].ran is False
    clock.advance(minutes=16)
    assert survivor.run_due()[0].ran is True and calls == [1]
    with db.transaction() as session:  # "a" wakes up: its late result is not recorded
        assert JobRepository(session).finish("count", "a", clock(), ok=False, detail="late",
                                             next_run_at=clock()) is False
        assert JobRepository(session).get("count").last_outcome == "ok"


def test_failures_are_recorded_without_phi_and_retried_sooner_than_the_interval(db):
    clock = Clock()
    state = {"mode": "phi"}

    def flaky():
        if state["mode"] == "phi":
            raise RuntimeError("could not update Jane Doe, born 1980-02-03")
        if state["mode"] == "failed":
            raise JobFailed("3 rows could not be purged")
        return {"purged": 3}

    scheduler = Scheduler(db, [Job("flaky", timedelta(days=1), flaky)], clock=clock,
                          retry_base=timedelta(seconds=30))
    run = scheduler.run_due()[0]
    assert run.ran and run.ok is False and run.detail == "unexpected RuntimeError"
    with db.read() as session:
        row = session.get(ScheduledJobRow, "flaky")
        assert "Jane" not in (row.last_detail or "") and row.consecutive_failures == 1
        first_retry = row.next_run_at - clock()
    assert timedelta(seconds=15) <= first_retry <= timedelta(seconds=30)  # not a day, not at once
    clock.advance(seconds=31)
    state["mode"] = "failed"
    run = scheduler.run_due()[0]
    assert run.ok is False and run.detail == "3 rows could not be purged"
    with db.read() as session:
        row = session.get(ScheduledJobRow, "flaky")
        assert row.consecutive_failures == 2 and row.failures == 2
        assert timedelta(seconds=30) <= row.next_run_at - clock() <= timedelta(seconds=60)
    clock.advance(minutes=2)
    state["mode"] = "ok"
    assert scheduler.run_due()[0].ok is True
    with db.read() as session:
        row = session.get(ScheduledJobRow, "flaky")
        assert row.consecutive_failures == 0 and row.failures == 2 and row.runs == 3
        assert row.next_run_at - clock() == timedelta(days=1)


def test_job_names_must_be_unique_and_run_now_knows_only_enabled_jobs(db):
    job, _ = _counting_job()
    with pytest.raises(ValueError):
        Scheduler(db, [job, job])
    with pytest.raises(KeyError):
        Scheduler(db, [job]).run_now("nope")


def test_auth_housekeeping_purges_only_what_expired(db, tmp_path):
    now = datetime.utcnow()
    old, live = now - timedelta(hours=2), now + timedelta(hours=1)
    just_expired = now - timedelta(minutes=10)  # replay guards outlive expiry by an hour
    with db.transaction() as session:
        for i, expires in enumerate((old, live)):
            session.add(AuthCodeRow(code_hash=f"c{i}", client_id="app", redirect_uri="x", scope="s",
                                    code_challenge="x", username="u", expires=expires))
            session.add(LaunchContextRow(launch_hash=f"l{i}", client_id="app", patient="p",
                                         created=now, expires=expires))
            session.add(RefreshTokenRow(token_hash=f"r{i}", client_id="app", scope="s", expires=expires))
        for i, expires in enumerate((old, live, just_expired)):
            session.add(UsedAssertionRow(jti=f"j{i}", client_id="app", expires=expires))
            session.add(RevokedTokenRow(jti=f"t{i}", expires=expires))
    settings = settings_from_mapping({"database_url": "sqlite://", "data_dir": str(tmp_path)})
    jobs = {j.name: j for j in housekeeping_jobs(settings, db)}
    figures = Scheduler(db, [jobs["auth-housekeeping"]]).run_now("auth-housekeeping")
    assert json.loads(figures.detail) == {"auth_codes": 1, "launch_contexts": 1, "refresh_tokens": 1,
                                          "used_assertions": 1, "revoked_tokens": 1}
    with db.read() as session:
        assert session.execute(select(AuthCodeRow.code_hash)).scalars().all() == ["c1"]
        assert sorted(session.execute(select(RevokedTokenRow.jti)).scalars()) == ["t1", "t2"]
        assert sorted(session.execute(select(UsedAssertionRow.jti)).scalars()) == ["j1", "j2"]


def _app(settings_overrides, **extra):
    from gateway.app import create_app
    return create_app(settings_from_mapping(dict(settings_overrides, **extra)))


def test_audit_jobs_drain_the_journal_and_fail_on_a_broken_chain(settings_overrides):
    app = _app(settings_overrides, audit_drain_interval_ms=3_600_000)
    container = app.extensions["fhir_gateway"]
    try:
        client = app.test_client()
        pid = client.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=HEADERS).get_json()["id"]
        for _ in range(3):
            assert client.get(f"/fhir/Patient/{pid}").status_code == 200
        # a gateway process that ended before its drainer chained what it journaled
        journal_dir = Path(container.settings.resolved_audit_journal_dir)
        ended = AuditJournal(journal_dir)
        for n in range(3):
            ended.append(AuditRecord(f"ended-{n}", datetime(2026, 12, 5, 10, 0, n), "R", "0", "read",
                                     "client-a", json.dumps({"resourceType": "AuditEvent",
                                                             "id": f"ended-{n}"}),
                                     ((f"Patient/{pid}", pid),)))
        ended.close()
        jobs = {j.name: j for j in housekeeping_jobs(container.settings, container.db)}
        scheduler = Scheduler(container.db, [jobs["audit-drain"], jobs["audit-verify"]])
        drained = json.loads(scheduler.run_now("audit-drain").detail)
        assert drained["drained"] >= 3 and drained["backlog_bytes"] == 0
        assert drained["segments_removed"] >= 1
        verified = scheduler.run_now("audit-verify")
        assert verified.ok and json.loads(verified.detail)["checked"] >= 7
        with container.db.read() as session:
            chained = set(session.execute(text("SELECT id FROM audit_events")).scalars())
        assert {"ended-0", "ended-1", "ended-2"} <= chained
        with container.db.transaction() as session:  # someone edits a recorded event
            session.execute(text("UPDATE audit_events SET content = replace(content, 'read', 'vread') "
                                 "WHERE interaction = 'read'"))
        broken = scheduler.run_now("audit-verify")
        assert broken.ok is False and broken.detail.startswith("audit chain broken at AuditEvent/")
        # and /metrics says so, read from the database at scrape time
        body = client.get("/metrics").get_data(as_text=True)
        assert 'fhir_gateway_job_consecutive_failures{job="audit-verify"} 1.0' in body
        assert 'fhir_gateway_job_runs{job="audit-drain"} 1.0' in body
        assert 'fhir_gateway_job_last_success_timestamp_seconds{job="audit-drain"}' in body
        assert "fhir_gateway_audit_journal_backlog_bytes" in body
        assert "fhir_gateway_state_up 1.0" in body
    finally:
        container.db.dispose()


@pytest.mark.parametrize("value", ["1x", "0m", "-5s", "m", "daily", ""])
def test_a_bad_interval_is_refused_naming_the_key(value):
    with pytest.raises(ConfigError, match="job_db_analyze"):
        settings_from_mapping({"job_db_analyze": value})


def test_off_leaves_a_job_out(tmp_path):
    settings = settings_from_mapping({"data_dir": str(tmp_path), "job_audit_verify": "off",
                                      "job_db_analyze": "90s"})
    jobs = {j.name: j for j in housekeeping_jobs(settings, None)}
    assert "audit-verify" not in jobs and jobs["db-analyze"].every == timedelta(seconds=90)
    assert set(jobs) == {"auth-housekeeping", "audit-drain", "db-analyze", "outbox-prune"}


def test_cli_runs_lists_and_refuses_unknown_jobs(database_url, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    assert main(["scheduler", "--once"]) == 0
    ran = json.loads(capsys.readouterr().out)
    assert sorted(ran["ran"]) == ["audit-drain", "audit-verify", "auth-housekeeping", "db-analyze",
                                  "outbox-prune"]
    assert ran["failed"] == []
    assert main(["jobs", "run", "db-analyze"]) == 0
    assert json.loads(capsys.readouterr().out) == {"job": "db-analyze", "ok": True,
                                                   "detail": '{"analyzed": true}'}
    assert main(["jobs", "list"]) == 0
    listed = {j["name"]: j for j in json.loads(capsys.readouterr().out)["jobs"]}
    assert listed["db-analyze"]["runs"] == 2 and listed["auth-housekeeping"]["runs"] == 1
    assert main(["jobs", "run", "nope"]) == 2
    assert "no enabled job named 'nope'" in capsys.readouterr().err
    assert main(["jobs", "run"]) == 2


def test_cli_asks_for_the_migrations_first(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["jobs", "list"]) == 2
    assert "fhir-gateway db upgrade" in capsys.readouterr().err
