"""The read-audit journal (store.audit_journal) and its drain (store.audit_drain): every line is
chained exactly once, in order, by any number of drainers; a writer that died (even mid-line)
loses nothing it had written whole; final segments are removed; SQLite and PostgreSQL."""
from __future__ import annotations

import json
import os
import signal
import threading
from datetime import datetime

import pytest
from sqlalchemy import func, select

from gateway.store.audit import AuditRecord, AuditRepository
from gateway.store.audit_drain import backlog_bytes, drain_journal
from gateway.store.audit_journal import AuditJournal, decode, encode
from gateway.store.db import Database
from gateway.store.models import AuditEventRow, AuditJournalSegmentRow

WHEN = datetime(2026, 12, 5, 10, 11, 12, 345678)


def _record(n: int, tag: str = "a") -> AuditRecord:
    content = json.dumps({"resourceType": "AuditEvent", "id": f"ev-{tag}-{n}",
                          "outcomeDesc": "Ünïcode ✓"}, ensure_ascii=False)
    return AuditRecord(f"ev-{tag}-{n}", WHEN, "R", "0", "read", "client-a", content,
                       (("Patient/p1", None), ("Appointment/a1", "p1")))


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def _chained_ids(db: Database) -> list[str]:
    with db.read() as session:
        return session.execute(select(AuditEventRow.id).order_by(AuditEventRow.pk)).scalars().all()


def _verify(db: Database):
    with db.read() as session:
        return AuditRepository(session).verify()


def test_a_line_round_trips_every_field():
    record = _record(7)
    assert decode(encode(record)) == record
    assert encode(record).endswith(b"\n") and encode(record).count(b"\n") == 1


def test_a_live_segment_is_not_final_and_becomes_final_when_its_writer_closes(tmp_path):
    journal = AuditJournal(tmp_path)
    journal.append(_record(1))
    [segment] = journal.segments()
    assert not AuditJournal.is_final(segment)
    journal.close()
    assert AuditJournal.is_final(segment)


def test_drain_chains_each_event_once_in_order_and_removes_final_segments(db, tmp_path):
    journal = AuditJournal(tmp_path)
    for n in range(5):
        journal.append(_record(n))
    first = drain_journal(db, journal)
    assert first.drained == 5 and first.removed == 0  # the writer is still open
    assert drain_journal(db, journal).drained == 0
    journal.append(_record(5))
    journal.close()
    last = drain_journal(db, journal)
    assert (last.drained, last.removed) == (1, 1)
    assert _chained_ids(db) == [f"ev-a-{n}" for n in range(6)]
    assert journal.segments() == []
    with db.read() as session:  # the removed segment's offset row is gone too
        assert session.execute(select(func.count()).select_from(AuditJournalSegmentRow)).scalar() == 0
    check = _verify(db)
    assert check.broken_id is None and check.checked == 6


def test_entities_are_chained_with_their_events_so_search_finds_them(db, tmp_path):
    journal = AuditJournal(tmp_path)
    journal.append(_record(1))
    drain_journal(db, journal)
    from gateway.store.audit import AuditFilters
    with db.read() as session:
        _rows, total = AuditRepository(session).search(AuditFilters(patients=["p1"]), count=5,
                                                      before_pk=None)
    assert total == 1


def test_concurrent_drainers_never_chain_a_line_twice(db, tmp_path):
    journal = AuditJournal(tmp_path)
    errors: list[BaseException] = []

    def drain_repeatedly():
        try:
            for _ in range(15):
                drain_journal(db, journal, batch_bytes=2048)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=drain_repeatedly) for _ in range(3)]
    for thread in threads:
        thread.start()
    for n in range(200):
        journal.append(_record(n))
    for thread in threads:
        thread.join()
    drain_journal(db, journal)
    assert errors == []
    assert _chained_ids(db) == [f"ev-a-{n}" for n in range(200)]
    assert _verify(db).broken_id is None


def test_a_killed_writer_loses_no_whole_line_and_its_torn_line_is_skipped(db, tmp_path):
    journal = AuditJournal(tmp_path)
    pid = os.fork()
    if pid == 0:  # the child: a worker process that writes, then dies mid-line
        try:
            for n in range(20):
                journal.append(_record(n, "child"))
            os.write(journal._writer.fd, encode(_record(99, "child"))[:40])  # torn
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    [segment] = journal.segments()
    assert AuditJournal.is_final(segment)  # the kernel dropped the dead writer's lock
    result = drain_journal(db, journal)
    assert (result.drained, result.unreadable, result.removed) == (20, 1, 1)
    assert _chained_ids(db) == [f"ev-child-{n}" for n in range(20)]


def test_a_live_writers_unterminated_line_waits_for_its_newline(db, tmp_path):
    journal = AuditJournal(tmp_path)
    journal.append(_record(1))
    line = encode(_record(2))
    os.write(journal._writer.fd, line[:30])  # a write under way (another thread, say)
    assert drain_journal(db, journal).drained == 1
    os.write(journal._writer.fd, line[30:])
    result = drain_journal(db, journal)
    assert (result.drained, result.unreadable) == (1, 0)
    assert _chained_ids(db) == ["ev-a-1", "ev-a-2"]


def test_a_forked_child_writes_a_segment_of_its_own(db, tmp_path):
    journal = AuditJournal(tmp_path)
    journal.append(_record(1, "parent"))
    pid = os.fork()
    if pid == 0:
        try:
            journal.append(_record(1, "child"))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    journal.append(_record(2, "parent"))
    assert len(journal.segments()) == 2
    drain_journal(db, journal)
    assert sorted(_chained_ids(db)) == ["ev-child-1", "ev-parent-1", "ev-parent-2"]
    assert len(journal.segments()) == 1  # the child's segment was final: drained, removed


def test_a_writer_rotates_to_a_new_segment_past_the_size_limit(db, tmp_path):
    journal = AuditJournal(tmp_path, segment_bytes=600)
    for n in range(10):
        journal.append(_record(n))
    segments = journal.segments()
    assert len(segments) > 2
    assert [AuditJournal.is_final(p) for p in segments].count(False) == 1
    result = drain_journal(db, journal)
    assert result.drained == 10 and result.removed == len(segments) - 1
    assert _chained_ids(db) == [f"ev-a-{n}" for n in range(10)]


def test_a_line_longer_than_the_batch_is_still_drained(db, tmp_path):
    journal = AuditJournal(tmp_path)
    big = _record(1)
    big = AuditRecord(big.id, big.recorded, big.action, big.outcome, big.interaction, big.agent,
                      json.dumps({"resourceType": "AuditEvent", "pad": "x" * 10000}), big.entities)
    journal.append(big)
    journal.append(_record(2))
    assert drain_journal(db, journal, batch_bytes=512).drained == 2


def test_backlog_counts_bytes_not_yet_chained(db, tmp_path):
    journal = AuditJournal(tmp_path)
    journal.append(_record(1))
    assert backlog_bytes(db, journal) == len(encode(_record(1)))
    drain_journal(db, journal)
    assert backlog_bytes(db, journal) == 0


def test_fsync_mode_writes_the_same_lines(db, tmp_path):
    journal = AuditJournal(tmp_path, fsync=True)
    journal.append(_record(1))
    assert drain_journal(db, journal).drained == 1
