"""OutboxRepository: the rows of the transactional outbox, their leases and their dead letters.

May import: sqlalchemy, stdlib, gateway.store.models. A row is added in the same transaction
as the write it carries (no write without its row, no row without its write). Delivery keeps
each backend's order: only the oldest pending row of a backend may be claimed, and it is
claimed with one conditional UPDATE (pending, due, no live lease), so several workers on
SQLite or PostgreSQL never send the same row twice nor overtake one another. Every state change
after the claim checks the lease holder: a worker whose lease expired writes nothing.
Times are naive UTC, like every other timestamp in the store.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from gateway.store.models import OutboxRow

PENDING, DELIVERED, DEAD, DISCARDED = "pending", "delivered", "dead", "discarded"
STATUSES = (PENDING, DELIVERED, DEAD, DISCARDED)


@dataclass(frozen=True)
class NewMessage:
    """What a write owes its backend: the resource version to send and how it was decided."""

    backend: str
    interaction: str
    resource_type: str
    resource_id: str
    version_id: int
    profile: str


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- the write side (in the write's own transaction) ------------------------------------
    def add(self, message: NewMessage, now: datetime, *, status: str = PENDING, attempts: int = 0,
            next_attempt_at: datetime | None = None, backend_id: str | None = None,
            error: str | None = None) -> OutboxRow:
        row = OutboxRow(backend=message.backend, interaction=message.interaction,
                        resource_type=message.resource_type, resource_id=message.resource_id,
                        version_id=message.version_id, profile=message.profile, status=status,
                        attempts=attempts, created=now, backend_id=backend_id, last_error=error,
                        last_attempt_at=now if attempts else None,
                        next_attempt_at=(next_attempt_at or now) if status == PENDING else None,
                        finished=now if status != PENDING else None)
        self.session.add(row)
        self.session.flush()
        return row

    def has_backlog(self, backend: str) -> bool:
        """True when the backend still has a pending row: a new write must queue behind it."""
        return self.session.execute(select(OutboxRow.pk).where(
            OutboxRow.backend == backend, OutboxRow.status == PENDING).limit(1)).first() is not None

    # -- the worker side ---------------------------------------------------------------------
    def due_heads(self, now: datetime) -> list[int]:
        """The oldest pending row of each backend, when it is due and nobody holds its lease."""
        heads = (select(func.min(OutboxRow.pk)).where(OutboxRow.status == PENDING)
                 .group_by(OutboxRow.backend).scalar_subquery())
        return list(self.session.execute(select(OutboxRow.pk).where(
            OutboxRow.pk.in_(heads), OutboxRow.next_attempt_at <= now,
            or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now))
            .order_by(OutboxRow.pk)).scalars())

    def claim(self, pk: int, holder: str, now: datetime, lease_until: datetime) -> bool:
        """Take the row's lease if it is still pending, due and free; True when this holder won."""
        result = self.session.execute(
            update(OutboxRow).where(
                OutboxRow.pk == pk, OutboxRow.status == PENDING, OutboxRow.next_attempt_at <= now,
                or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now))
            .values(lease_holder=holder, lease_until=lease_until)
            .execution_options(synchronize_session=False))
        return result.rowcount == 1

    def held(self, pk: int, holder: str) -> OutboxRow | None:
        """The row, locked, when `holder` still holds its lease (else None: write nothing)."""
        row = self.session.get(OutboxRow, pk, with_for_update=True, populate_existing=True)
        return row if row is not None and row.lease_holder == holder and row.status == PENDING else None

    @staticmethod
    def delivered(row: OutboxRow, now: datetime, backend_id: str | None, profile: str = "") -> None:
        """Sent and taken; `profile` is the version that rendered it (pinned since enqueued)."""
        row.status, row.finished, row.backend_id = DELIVERED, now, backend_id
        row.profile = profile or row.profile
        row.attempts += 1
        row.last_attempt_at, row.next_attempt_at = now, None
        row.lease_holder = row.lease_until = None

    @staticmethod
    def failed(row: OutboxRow, now: datetime, error: str, retry_at: datetime | None) -> None:
        """A failed try: retried at `retry_at`, or dead-lettered when that is None."""
        row.attempts += 1
        row.last_attempt_at, row.last_error = now, error
        row.lease_holder = row.lease_until = None
        if retry_at is None:
            row.status, row.finished, row.next_attempt_at = DEAD, now, None
        else:
            row.next_attempt_at = retry_at

    # -- staff: inspect, replay, discard -----------------------------------------------------
    def get(self, pk: int, *, lock: bool = False) -> OutboxRow | None:
        return self.session.get(OutboxRow, pk, with_for_update=lock)

    def page(self, *, status: str | None = None, backend: str | None = None,
             before: int | None = None, limit: int = 50) -> list[OutboxRow]:
        """Newest first; `before` pages back from a row id."""
        query = select(OutboxRow)
        if status:
            query = query.where(OutboxRow.status == status)
        if backend:
            query = query.where(OutboxRow.backend == backend)
        if before:
            query = query.where(OutboxRow.pk < before)
        return list(self.session.execute(query.order_by(OutboxRow.pk.desc()).limit(limit)).scalars())

    def counts(self) -> dict[tuple[str, str], int]:
        """(backend, status) -> rows, for /metrics and `outbox list`."""
        rows = self.session.execute(select(OutboxRow.backend, OutboxRow.status, func.count())
                                    .group_by(OutboxRow.backend, OutboxRow.status))
        return {(backend, status): n for backend, status, n in rows}

    def oldest_pending(self) -> dict[str, datetime]:
        """backend -> when its oldest pending row was written (the delivery lag)."""
        rows = self.session.execute(select(OutboxRow.backend, func.min(OutboxRow.created))
                                    .where(OutboxRow.status == PENDING).group_by(OutboxRow.backend))
        return {backend: created for backend, created in rows}

    @staticmethod
    def close(row: OutboxRow, status: str, now: datetime, who: str, note: str) -> None:
        """A dead letter leaves the queue for good (discarded)."""
        row.status, row.closed_by, row.note = status, who[:128], note[:1000]
        row.finished = now

    @staticmethod
    def reopen(row: OutboxRow, now: datetime, version_id: int, profile: str, who: str,
               note: str) -> None:
        """A dead letter replayed: pending again in its own place, due now, tries reset; the
        reason it died stays in last_error until the next try."""
        row.status, row.version_id, row.profile = PENDING, version_id, profile
        row.attempts, row.next_attempt_at, row.finished = 0, now, None
        row.lease_holder = row.lease_until = None
        row.closed_by, row.note = who[:128], note[:1000]

    def prune(self, before: datetime) -> int:
        """Delete delivered and discarded rows that finished before `before` (the delivery
        log's retention); pending and dead rows always stay."""
        result = self.session.execute(delete(OutboxRow).where(
            OutboxRow.status.in_((DELIVERED, DISCARDED)), OutboxRow.finished < before))
        return result.rowcount or 0
