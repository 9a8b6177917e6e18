"""The hot path on a bare DB-API connection (store.direct) writes and reads exactly what the
ORM path does: its AuditEvents extend the same hash chain (verify() still holds), its rows
read back with the same types, a failed append leaves nothing behind; SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from gateway.store.audit import AuditFilters, AuditRecord, AuditRepository
from gateway.store.db import Database
from gateway.store.indexes import IndexRows
from gateway.store.resources import ResourceRepository

WHEN = datetime(2026, 3, 4, 5, 6, 7)  # microsecond 0: the formatting edge case on SQLite


def _record(n: int, entities=(("Patient/p1", None),)) -> AuditRecord:
    return AuditRecord(f"ev-{n}", WHEN.replace(second=n), "R", "0", "read", "client-a",
                       f'{{"resourceType":"AuditEvent","id":"ev-{n}"}}', tuple(entities))


@pytest.fixture
def db(database_url):
    db = Database(database_url)
    yield db
    db.dispose()


def test_direct_and_session_appends_form_one_verifiable_chain(db):
    for n in range(6):
        if n % 2:
            with db.direct() as direct:
                direct.append_audit(_record(n))
        else:
            with db.transaction() as session:
                AuditRepository(session).append(_record(n))
    with db.read() as session:
        assert AuditRepository(session).verify().broken_id is None
        assert AuditRepository(session).verify().checked == 6
        # the same stored form as the ORM's (SQLite keeps text: a different format would
        # compare wrongly), so date filters see both kinds of rows alike
        stored = session.execute(text("SELECT CAST(recorded AS TEXT) FROM audit_events ORDER BY pk")
                                 ).scalars().all()
        assert len({len(value) for value in stored}) == 1
        _rows, total = AuditRepository(session).search(
            AuditFilters(recorded=[("ge", WHEN.replace(second=3))]), count=10, before_pk=None)
        assert total == 3


def test_a_patient_entity_is_found_by_patient_search(db):
    with db.direct() as direct:
        direct.append_audit(_record(1, [("Patient/p1", None)]))
        direct.append_audit(_record(2, [("Appointment/a1", "p1"), ("Appointment/a1", None)]))
        direct.append_audit(_record(3, [("Patient/p2", None)]))
    with db.read() as session:
        rows, total = AuditRepository(session).search(AuditFilters(patients=["p1"]), count=10,
                                                      before_pk=None)
    assert total == 2 and sorted(content for _pk, content in rows) == [
        '{"resourceType":"AuditEvent","id":"ev-1"}', '{"resourceType":"AuditEvent","id":"ev-2"}']


def test_a_failed_append_writes_nothing_and_releases_the_writer(db):
    with db.direct() as direct:
        direct.append_audit(_record(1))
        with pytest.raises(Exception):
            direct.append_audit(_record(1))  # duplicate id: the unique constraint refuses it
    with db.transaction() as session:  # not locked out by the failed append
        AuditRepository(session).append(_record(2))
    with db.read() as session:
        check = AuditRepository(session).verify()
    assert check.broken_id is None and check.checked == 2


def test_current_reads_what_the_repository_wrote(db):
    with db.transaction() as session:
        ResourceRepository(session).create("Patient", "p1", '{"resourceType":"Patient","id":"p1"}',
                                           IndexRows(), WHEN)
    with db.direct() as direct:
        stored = direct.current("Patient", "p1")
        assert direct.current("Patient", "nope") is None
    with db.read() as session:
        expected = ResourceRepository(session).current("Patient", "p1")
    assert stored == expected and stored.last_updated == WHEN and stored.deleted is False


def test_revocation_is_seen_at_once(db):
    with db.direct() as direct:
        assert direct.is_revoked("jti-1") is False
    with db.transaction() as session:
        session.execute(text("INSERT INTO revoked_tokens (jti, expires) VALUES ('jti-1', :e)"),
                        {"e": WHEN})
    with db.direct() as direct:
        assert direct.is_revoked("jti-1") is True
