"""Direct: the per-request hot path on a bare DB-API connection (read one resource, append
one AuditEvent, check a token's revocation), without SQLAlchemy's per-statement machinery.

May import: sqlalchemy (types only, for its value converters), stdlib,
gateway.store.audit/resources. Profiling a Patient read showed SQLAlchemy's Session and
statement execution taking about two thirds of the request; the same SQL on the DB-API cursor
costs a few microseconds per statement. Everything else keeps using sessions.

The connection comes from the engine's pool (so the per-connection SQLite pragmas apply), and
the chain append is serialized exactly like AuditRepository.append: on SQLite by the writer
flock plus BEGIN IMMEDIATE (see Database), on PostgreSQL by the same advisory lock.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable, ContextManager

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect

from gateway.store.audit import GENESIS, LOCK_KEY, AuditRecord, link_hash
from gateway.store.resources import StoredResource, as_datetime

_NAMED = re.compile(r":([a-z_]+)")

_CURRENT = ("SELECT pk, version_id, last_updated, deleted, content FROM resources "
            "WHERE resource_type = :t AND id = :i")
_REVOKED = "SELECT 1 FROM revoked_tokens WHERE jti = :j"
_LAST_HASH = "SELECT hash FROM audit_events ORDER BY pk DESC LIMIT 1"
_INSERT_EVENT = ("INSERT INTO audit_events (id, recorded, action, outcome, interaction, agent, "
                 "content, prev_hash, hash) VALUES (:id, :recorded, :action, :outcome, "
                 ":interaction, :agent, :content, :prev_hash, :hash)")
_INSERT_ENTITY = ("INSERT INTO audit_entities (audit_pk, reference, patient) "
                  "VALUES (:audit_pk, :reference, :patient)")


class Statements:
    """The hot-path SQL in the driver's own parameter style, built once per Database."""

    def __init__(self, dialect: Dialect) -> None:
        self.postgresql = dialect.name == "postgresql"
        style = (lambda sql: _NAMED.sub(r"%(\1)s", sql)) if self.postgresql else (lambda sql: sql)
        self.current = style(_CURRENT)
        self.revoked = style(_REVOKED)
        self.last_hash = style(_LAST_HASH)
        self.insert_event = style(_INSERT_EVENT + (" RETURNING pk" if self.postgresql else ""))
        self.insert_entity = style(_INSERT_ENTITY)
        self.lock = f"SELECT pg_advisory_xact_lock({LOCK_KEY})"
        # SQLAlchemy's own DateTime converter, so rows written here read back exactly like rows
        # written through the ORM (SQLite stores text with a fixed microsecond format).
        self.bind_datetime: Callable[[datetime], Any] = (
            DateTime().dialect_impl(dialect).bind_processor(dialect) or (lambda value: value))


class Direct:
    """One pooled DB-API connection for one request. `writer_lock` serializes SQLite writers."""

    def __init__(self, connection, statements: Statements,
                 writer_lock: Callable[[], ContextManager[None]]) -> None:
        self.connection = connection
        self.sql = statements
        self.writer_lock = writer_lock

    def current(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current version (SQLite: autocommit; PostgreSQL: opens the request transaction)."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(self.sql.current, {"t": resource_type, "i": resource_id})
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        return StoredResource(row[0], resource_type, resource_id, row[1], as_datetime(row[2]),
                              bool(row[3]), row[4])

    def is_revoked(self, jti: str) -> bool:
        """Whether an access token was revoked (RFC 7009); checked on every request."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(self.sql.revoked, {"j": jti})
            return cursor.fetchone() is not None
        finally:
            cursor.close()

    def append_audit(self, record: AuditRecord) -> None:
        """Append to the hash chain and commit (PostgreSQL: with the read in the same
        transaction). The lock is taken only now, after the caller did its reading."""
        with self.writer_lock():
            cursor = self.connection.cursor()
            try:
                if self.sql.postgresql:
                    cursor.execute(self.sql.lock)
                else:
                    cursor.execute("BEGIN IMMEDIATE")
                self._append(cursor, record)
                self.connection.commit() if self.sql.postgresql else cursor.execute("COMMIT")
            except BaseException:
                self.connection.rollback()
                raise
            finally:
                cursor.close()

    def _append(self, cursor, record: AuditRecord) -> None:
        cursor.execute(self.sql.last_hash)
        row = cursor.fetchone()
        prev = row[0] if row else GENESIS
        cursor.execute(self.sql.insert_event, {
            "id": record.id, "recorded": self.sql.bind_datetime(record.recorded),
            "action": record.action, "outcome": record.outcome, "interaction": record.interaction,
            "agent": record.agent[:255], "content": record.content, "prev_hash": prev,
            "hash": link_hash(prev, record.content)})
        pk = cursor.fetchone()[0] if self.sql.postgresql else cursor.lastrowid
        rows = [{"audit_pk": pk, "reference": ref[:160], "patient": patient}
                for ref, patient in record.entities]
        if len(rows) == 1:  # a read: one entity, and execute costs less than executemany
            cursor.execute(self.sql.insert_entity, rows[0])
        elif rows:
            cursor.executemany(self.sql.insert_entity, rows)
