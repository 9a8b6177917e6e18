"""JobRepository: the scheduled_jobs rows that let several scheduler processes share one
schedule without running a job twice.

May import: sqlalchemy, stdlib, gateway.store.models. A run is claimed with one conditional
UPDATE (due, and no live lease): the database decides the winner on SQLite and PostgreSQL
alike, so no advisory locks or clocks in agreement beyond the database's rows are needed.
Times are naive UTC, like every other timestamp in the store.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.store.models import ScheduledJobRow


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def ensure(self, names: list[str], now: datetime) -> None:
        """A row for every configured job; a new job is due at once."""
        known = set(self.session.execute(select(ScheduledJobRow.name)).scalars())
        for name in names:
            if name in known:
                continue
            try:
                with self.session.begin_nested():  # another scheduler may insert it first
                    self.session.add(ScheduledJobRow(name=name, next_run_at=now, runs=0, failures=0,
                                                     consecutive_failures=0))
            except IntegrityError:
                pass

    def claim(self, name: str, holder: str, now: datetime, lease_until: datetime, *,
              only_if_due: bool = True) -> bool:
        """Take the job's lease when it is due (or at once, `only_if_due=False`) and nobody
        holds a live lease; True when this holder won."""
        conditions = [ScheduledJobRow.name == name,
                      or_(ScheduledJobRow.lease_until.is_(None), ScheduledJobRow.lease_until < now)]
        if only_if_due:
            conditions.append(ScheduledJobRow.next_run_at <= now)
        result = self.session.execute(
            update(ScheduledJobRow).where(*conditions)
            .values(lease_holder=holder, lease_until=lease_until, last_started=now)
            .execution_options(synchronize_session=False))
        return result.rowcount == 1

    def finish(self, name: str, holder: str, now: datetime, *, ok: bool, detail: str,
               next_run_at: datetime) -> bool:
        """Record how the run ended and release the lease; False when the lease was lost
        (it expired and another scheduler took the job), then nothing is written."""
        row = self.session.get(ScheduledJobRow, name, with_for_update=True)
        if row is None or row.lease_holder != holder:
            return False
        row.lease_holder = row.lease_until = None
        row.last_finished, row.last_outcome, row.last_detail = now, "ok" if ok else "failed", detail[:1000]
        row.next_run_at = next_run_at
        row.runs += 1
        if ok:
            row.last_success, row.consecutive_failures = now, 0
        else:
            row.failures += 1
            row.consecutive_failures += 1
        return True

    def get(self, name: str) -> ScheduledJobRow | None:
        return self.session.get(ScheduledJobRow, name)

    def all(self) -> list[ScheduledJobRow]:
        return list(self.session.execute(select(ScheduledJobRow).order_by(ScheduledJobRow.name)).scalars())
