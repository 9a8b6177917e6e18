"""The audit log is a hash chain: an edited, deleted or inserted row is found by verify()."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from gateway.store.audit import AuditRecord, AuditRepository, GENESIS, link_hash
from gateway.store.db import Database


def _append(db: Database, n: int) -> None:
    for i in range(n):
        with db.transaction() as session:
            AuditRepository(session).append(AuditRecord(
                f"ev-{i}", datetime(2026, 1, 1, 0, 0, i), "R", "0", "read", "client-a",
                f'{{"resourceType":"AuditEvent","id":"ev-{i}"}}', (("Patient/p1", "p1"),)))


def test_chain_links_each_row_to_the_previous(database_url):
    db = Database(database_url)
    _append(db, 3)
    with db.read() as session:
        rows = session.execute(text("SELECT content, prev_hash, hash FROM audit_events ORDER BY pk")).all()
        assert rows[0][1] == GENESIS
        assert rows[1][1] == rows[0][2] == link_hash(GENESIS, rows[0][0])
        assert AuditRepository(session).verify().broken_id is None
        assert AuditRepository(session).verify().checked == 3
    db.dispose()


def test_verify_names_the_first_edited_row(database_url):
    db = Database(database_url)
    _append(db, 4)
    with db.transaction() as session:
        session.execute(text("UPDATE audit_events SET content = replace(content, 'ev-2', 'ev-X') "
                             "WHERE id = 'ev-2'"))
    with db.read() as session:
        check = AuditRepository(session).verify()
    assert check.broken_id == "ev-2" and "edited" in check.reason and check.checked == 2
    db.dispose()


def test_verify_detects_a_deleted_row(database_url):
    db = Database(database_url)
    _append(db, 4)
    with db.transaction() as session:
        session.execute(text("DELETE FROM audit_entities"))
        session.execute(text("DELETE FROM audit_events WHERE id = 'ev-1'"))
    with db.read() as session:
        check = AuditRepository(session).verify()
    assert check.broken_id == "ev-2" and "deleted" in check.reason
    db.dispose()
