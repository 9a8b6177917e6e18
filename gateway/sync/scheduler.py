"""The scheduler: runs named batch jobs at their interval, once across every process.

May import: stdlib, gateway.store, gateway.sync.backoff. Each job's state lives in the
scheduled_jobs table (gateway.store.jobs): a scheduler claims a due job with a lease, runs it,
records figures (never PHI) and the next due time. Several schedulers (one per host, or the
demo's plus an operator's `jobs run`) share the schedule safely; a crashed run's lease
expires and the job is taken up again. A failed run is retried sooner than its interval, with
jittered backoff, so a nightly job that hit a locked database does not wait a day.
"""
from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping

from gateway.store.db import Database
from gateway.store.jobs import JobRepository
from gateway.sync.backoff import RetryPolicy

log = logging.getLogger("gateway.sync.scheduler")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class JobFailed(Exception):
    """A job found something wrong (a broken audit chain...); the message is recorded and
    must hold no PHI. Any other exception is recorded by its class name only."""


@dataclass(frozen=True)
class Job:
    """A named batch job: `run()` does the work and returns PHI-free figures."""

    name: str
    every: timedelta
    run: Callable[[], Mapping[str, object]]
    lease: timedelta = timedelta(minutes=15)  # longer than any run; a crashed run's lease expires


@dataclass(frozen=True)
class JobRun:
    """What one scheduler pass did with one job."""

    name: str
    ran: bool  # False: not due, or another scheduler holds it
    ok: bool | None = None
    detail: str = ""


@dataclass
class Scheduler:
    db: Database
    jobs: list[Job]
    clock: Callable[[], datetime] = _utc_now
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    rng: random.Random = field(default_factory=random.Random)
    retry_base: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        names = [job.name for job in self.jobs]
        if len(set(names)) != len(names):
            raise ValueError("job names must be unique")
        self._by_name = {job.name: job for job in self.jobs}
        with self.db.transaction() as session:
            JobRepository(session).ensure(names, self.clock())

    def run_due(self) -> list[JobRun]:
        """One pass: every job that is due and free is run here, one after the other."""
        return [self._run(job, only_if_due=True) for job in self.jobs]

    def run_now(self, name: str) -> JobRun:
        """Run one job at once, whatever its schedule (still never beside a live run)."""
        job = self._by_name.get(name)
        if job is None:
            raise KeyError(name)
        return self._run(job, only_if_due=False)

    def serve(self, stop: threading.Event, interval: float = 5.0) -> None:
        """Run due jobs until `stop` is set; a pass that fails on the database is logged and
        the loop goes on (the next pass retries)."""
        while not stop.is_set():
            try:
                self.run_due()
            except Exception as exc:  # the store is down: say so without PHI, keep going
                log.error("scheduler pass failed: %s", type(exc).__name__)
            stop.wait(interval)

    def _run(self, job: Job, *, only_if_due: bool) -> JobRun:
        now = self.clock()
        with self.db.transaction() as session:
            won = JobRepository(session).claim(job.name, self.holder, now, now + job.lease,
                                               only_if_due=only_if_due)
        if not won:
            return JobRun(job.name, ran=False)
        try:
            figures = job.run()
            ok, detail = True, json.dumps(dict(figures), sort_keys=True, default=str)
        except JobFailed as exc:
            ok, detail = False, str(exc)
        except Exception as exc:  # the message may carry data; the class name cannot
            ok, detail = False, f"unexpected {type(exc).__name__}"
        finished = self.clock()
        if ok:
            next_run = finished + job.every
        else:
            with self.db.read() as session:
                row = JobRepository(session).get(job.name)
                failures = (row.consecutive_failures if row else 0) + 1
            policy = RetryPolicy(base_seconds=self.retry_base.total_seconds(),
                                 cap_seconds=max(job.every, self.retry_base).total_seconds(),
                                 max_attempts=1)
            # "equal jitter": half the ceiling plus a random half, so a retry is never at once
            next_run = finished + timedelta(seconds=policy.ceiling(failures) / 2
                                            + policy.delay(failures, self.rng) / 2)
            log.warning("job %s failed: %s", job.name, detail)
        with self.db.transaction() as session:
            kept = JobRepository(session).finish(job.name, self.holder, finished, ok=ok,
                                                 detail=detail, next_run_at=next_run)
        if not kept:
            log.warning("job %s outlived its lease; its result was not recorded", job.name)
        return JobRun(job.name, ran=True, ok=ok, detail=detail)

    def status(self) -> list[dict]:
        """Every job's schedule and last outcome, for `fhir-gateway jobs list` and /metrics."""
        now = self.clock()
        with self.db.read() as session:  # attributes read inside: rows expire with the session
            rows = {row.name: row for row in JobRepository(session).all()}
            out = [_describe(job, rows.get(job.name), now) for job in self.jobs]
        return out


def _describe(job: Job, row, now: datetime) -> dict:
    return {
        "name": job.name, "every_seconds": int(job.every.total_seconds()),
        "next_run_at": _iso(row.next_run_at) if row else None,
        "running": bool(row and row.lease_until and row.lease_until > now),
        "last_outcome": row.last_outcome if row else None,
        "last_finished": _iso(row.last_finished) if row else None,
        "last_success": _iso(row.last_success) if row else None,
        "last_detail": row.last_detail if row else None,
        "runs": row.runs if row else 0,
        "consecutive_failures": row.consecutive_failures if row else 0,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"
