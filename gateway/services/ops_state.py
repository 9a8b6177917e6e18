"""Operational state read at scrape time: scheduled jobs' health, the audit journal backlog and
the delivery outbox (pending, dead letters, the oldest undelivered write), the subscription
notification queue and the duplicate-patient review queue's open items.

May import: stdlib, gateway.store. /metrics asks this on every scrape (a couple of small
queries), so gauges are true of the database and journal now, whichever process did the work.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from gateway.store.audit_drain import backlog_bytes
from gateway.store.audit_journal import AuditJournal
from gateway.store.db import Database
from gateway.store.jobs import JobRepository
from gateway.store.match_reviews import ReviewRepository
from gateway.store.outbox import OutboxRepository
from gateway.store.notifications import NotificationRepository


_EPOCH = datetime(1970, 1, 1)  # stored times are naive UTC


@dataclass(frozen=True)
class JobState:
    name: str
    last_success_epoch: float | None  # None: never succeeded
    consecutive_failures: int
    runs: int


@dataclass(frozen=True)
class OpsState:
    jobs: list[JobState]
    audit_backlog_bytes: int | None  # None: reads are audited inline (no journal)
    outbox: dict[tuple[str, str], int] = field(default_factory=dict)  # (backend, status) -> rows
    outbox_oldest_age: dict[str, float] = field(default_factory=dict)  # backend -> seconds
    notifications: dict[str, int] = field(default_factory=dict)  # subscription queue by status
    open_reviews: int = 0  # possible duplicate patients waiting for staff review


class OpsStateReader:
    def __init__(self, db: Database, journal: AuditJournal | None) -> None:
        self.db, self.journal = db, journal

    def read(self) -> OpsState:
        with self.db.read() as session:
            rows = JobRepository(session).all()
            jobs = [JobState(row.name,
                             None if row.last_success is None
                             else (row.last_success - _EPOCH).total_seconds(),
                             row.consecutive_failures, row.runs) for row in rows]
            outbox = OutboxRepository(session)
            counts = outbox.counts()
            now = datetime.now(timezone.utc).replace(tzinfo=None)
            oldest = {b: max((now - created).total_seconds(), 0.0)
                      for b, created in outbox.oldest_pending().items()}
            notifications = NotificationRepository(session).counts(statuses=("pending", "dead"))
            open_reviews = ReviewRepository(session).count_open()
        backlog = backlog_bytes(self.db, self.journal) if self.journal is not None else None
        return OpsState(jobs, backlog, counts, oldest, notifications, open_reviews)

