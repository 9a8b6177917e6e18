"""Draining the audit journal into the hash-chained audit_events table, each line exactly once.

May import: sqlalchemy, stdlib, gateway.store.*. One transaction per batch (Direct.chain_journal,
on the bare DB-API connection: SQLAlchemy's per-statement cost was 4/5 of a drain): holding the
chain's lock (SQLite: the writer flock + BEGIN IMMEDIATE; PostgreSQL: the chain's advisory lock) the
segment's recorded offset is read, the lines after it are chained in order, and the new offset
is written. Two drainers at once (two workers' threads, an AuditEvent search, the CLI) thus
never chain a line twice nor skip one. A final segment (no writer holds it) is removed once
drained: file first, then its offset row, so a crash in between leaves only an orphan row.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from gateway.store.audit_journal import AuditJournal
from gateway.store.db import Database
from gateway.store.models import AuditJournalSegmentRow

log = logging.getLogger("gateway.audit")
_BATCH_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DrainResult:
    """What one drain did: events chained, segments removed, lines that could not be read."""

    drained: int = 0
    removed: int = 0
    unreadable: int = 0


def drain_journal(db: Database, journal: AuditJournal, batch_bytes: int = _BATCH_BYTES) -> DrainResult:
    """Chain every complete journal line not chained yet; remove drained final segments."""
    drained = removed = unreadable = 0
    segments = journal.segments()
    for path in segments:
        final = journal.is_final(path)  # asked first: a final segment's content is complete
        while True:
            count, bad, end = _drain_batch(db, journal, path, batch_bytes, final)
            drained, unreadable = drained + count, unreadable + bad
            if count == 0 and bad == 0:
                break
        if final and end >= journal.size(path):
            path.unlink(missing_ok=True)
            _forget(db, [path.name])
            removed += 1
    _forget_orphans(db, {p.name for p in segments}, journal)
    if unreadable:
        # never the line itself: it may hold PHI
        log.warning("audit journal: %d unreadable line(s) skipped (torn by a crashed writer)",
                    unreadable)
    return DrainResult(drained, removed, unreadable)


def _drain_batch(db: Database, journal: AuditJournal, path: Path, batch_bytes: int,
                 final: bool) -> tuple[int, int, int]:
    """(events chained, unreadable lines, offset reached) for one batch of one segment."""
    with db.direct() as direct:
        offset, chunk = direct.chain_journal(
            path.name, lambda start: journal.read(path, start, batch_bytes, final))
    if chunk.end == offset:
        return 0, 0, offset
    return len(chunk.records), chunk.unreadable, chunk.end


def _forget(db: Database, names: list[str]) -> None:
    if names:
        with db.transaction() as session:
            session.execute(delete(AuditJournalSegmentRow)
                            .where(AuditJournalSegmentRow.segment.in_(names)))


def _forget_orphans(db: Database, listed: set[str], journal: AuditJournal) -> None:
    """Offset rows whose segment is gone (removed by a drainer that stopped before its row)."""
    with db.read() as session:
        known = session.execute(select(AuditJournalSegmentRow.segment)).scalars().all()
    gone = [name for name in known
            if name not in listed and not (journal.directory / name).exists()]
    _forget(db, gone)


def backlog_bytes(db: Database, journal: AuditJournal) -> int:
    """Bytes written to the journal and not chained yet (a gauge for operators)."""
    with db.read() as session:
        offsets = dict(session.execute(select(AuditJournalSegmentRow.segment,
                                              AuditJournalSegmentRow.drained_to)).all())
    return sum(max(0, journal.size(p) - offsets.get(p.name, 0)) for p in journal.segments())
