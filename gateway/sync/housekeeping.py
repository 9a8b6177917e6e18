"""The housekeeping jobs the scheduler runs: what each does and how it is built from settings.

May import: stdlib, gateway.settings, gateway.store, gateway.sync.scheduler. Each job returns
counts only. Intervals come from the `job_*` settings ("off" leaves a job out):
- auth-housekeeping: delete expired authorization codes, launch contexts, refresh tokens,
  replay guards and revocations (these tables otherwise grow with every sign-in).
- audit-drain: chain journaled read events left by processes that ended (a live gateway's
  drainer thread chains its own); reports the backlog still waiting.
- audit-verify: walk the audit hash chain; a broken link fails the job (and /metrics shows it).
- db-analyze: refresh the query planner's statistics for the search indexes.
- outbox-prune: delete outbox rows that were delivered or discarded longer ago than
  `outbox_retention` (the delivery log); pending rows and dead letters always stay.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from gateway.settings import Settings, interval_seconds
from gateway.store.audit import AuditRepository
from gateway.store.audit_drain import backlog_bytes, drain_journal
from gateway.store.audit_journal import AuditJournal
from gateway.store.auth import AuthRepository
from gateway.store.db import Database
from gateway.store.outbox import OutboxRepository
from gateway.store.reindex import analyze
from gateway.sync.scheduler import Job, JobFailed

JOB_SETTINGS = {  # job name -> the setting holding its interval
    "auth-housekeeping": "job_auth_housekeeping",
    "audit-drain": "job_audit_drain",
    "audit-verify": "job_audit_verify",
    "db-analyze": "job_db_analyze",
    "outbox-prune": "job_outbox_prune",
}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def housekeeping_jobs(settings: Settings, db: Database) -> list[Job]:
    """The enabled housekeeping jobs, with the intervals the settings give them."""
    journal_dir = Path(settings.resolved_audit_journal_dir)

    def journal() -> AuditJournal | None:
        return AuditJournal(journal_dir) if journal_dir.is_dir() else None

    def auth_housekeeping() -> dict:
        with db.transaction() as session:
            return AuthRepository(session).purge_expired(_now())

    def audit_drain() -> dict:
        found = journal()
        if found is None:
            return {"drained": 0, "segments_removed": 0, "unreadable_lines": 0, "backlog_bytes": 0}
        result = drain_journal(db, found)
        return {"drained": result.drained, "segments_removed": result.removed,
                "unreadable_lines": result.unreadable, "backlog_bytes": backlog_bytes(db, found)}

    def audit_verify() -> dict:
        found = journal()
        if found is not None:
            drain_journal(db, found)  # so the walk covers every event recorded so far
        with db.read() as session:
            check = AuditRepository(session).verify()
        if check.broken_id is not None:  # an AuditEvent id and the kind of break: no PHI
            raise JobFailed(f"audit chain broken at AuditEvent/{check.broken_id}: {check.reason}")
        return {"checked": check.checked}

    def db_analyze() -> dict:
        with db.transaction() as session:
            analyze(session)
        return {"analyzed": True}

    def outbox_prune() -> dict:
        keep = timedelta(seconds=interval_seconds(settings.outbox_retention))
        with db.transaction() as session:
            return {"pruned": OutboxRepository(session).prune(_now() - keep)}

    runs = {"auth-housekeeping": auth_housekeeping, "audit-drain": audit_drain,
            "audit-verify": audit_verify, "db-analyze": db_analyze, "outbox-prune": outbox_prune}
    jobs = []
    for name, key in JOB_SETTINGS.items():
        seconds = interval_seconds(getattr(settings, key))
        if seconds is not None:
            jobs.append(Job(name, timedelta(seconds=seconds), runs[name]))
    return jobs

