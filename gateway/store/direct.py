"""Direct: the per-request hot path on a bare DB-API connection (read one resource, append
one AuditEvent, drain journaled AuditEvents into the chain, check a token's revocation),
without SQLAlchemy's per-statement machinery.

May import: sqlalchemy (types only, for its value converters), stdlib,
gateway.store.audit/audit_journal/resources. Profiling a Patient read showed SQLAlchemy's Session and
statement execution taking about two thirds of the request; the same SQL on the DB-API cursor
costs a few microseconds per statement. Everything else keeps using sessions.

The connection comes from the engine's pool (so the per-connection SQLite pragmas apply), and
the chain append is serialized exactly like AuditRepository.append: on SQLite by the writer
flock plus BEGIN IMMEDIATE (see Database), on PostgreSQL by the same advisory lock.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Callable, ContextManager, Iterator

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect

from gateway.store.audit import GENESIS, LOCK_KEY, AuditRecord, link_hash
from gateway.store.audit_journal import Chunk
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
_DRAINED_TO = "SELECT drained_to FROM audit_journal_segments WHERE segment = :s"
_INSERT_DRAINED = "INSERT INTO audit_journal_segments (segment, drained_to) VALUES (:s, :d)"
_UPDATE_DRAINED = "UPDATE audit_journal_segments SET drained_to = :d WHERE segment = :s"


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
        self.drained_to = style(_DRAINED_TO)
        self.insert_drained = style(_INSERT_DRAINED)
        self.update_drained = style(_UPDATE_DRAINED)
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
        with self._chain_transaction() as cursor:
            self._append(cursor, record, self._head(cursor))

    def chain_journal(self, segment: str, read: Callable[[int], Chunk]) -> tuple[int, Chunk]:
        """One drain batch in one transaction under the chain lock: the segment's drained
        offset, `read(offset)`'s records chained in order, the new offset. Returns the offset
        it started from and the chunk (chunk.end == offset: nothing new)."""
        with self._chain_transaction() as cursor:
            cursor.execute(self.sql.drained_to, {"s": segment})
            row = cursor.fetchone()
            offset = row[0] if row else 0
            chunk = read(offset)
            if chunk.end != offset:
                prev = self._head(cursor)
                for record in chunk.records:
                    prev = self._append(cursor, record, prev)
                cursor.execute(self.sql.update_drained if row else self.sql.insert_drained,
                               {"s": segment, "d": chunk.end})
        return offset, chunk

    @contextmanager
    def _chain_transaction(self) -> Iterator:
        with self.writer_lock():
            cursor = self.connection.cursor()
            try:
                if self.sql.postgresql:
                    cursor.execute(self.sql.lock)
                else:
                    cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                self.connection.commit() if self.sql.postgresql else cursor.execute("COMMIT")
            except BaseException:
                self.connection.rollback()
                raise
            finally:
                cursor.close()

    def _head(self, cursor) -> str:
        cursor.execute(self.sql.last_hash)
        row = cursor.fetchone()
        return row[0] if row else GENESIS

    def _append(self, cursor, record: AuditRecord, prev: str) -> str:
        """Insert one event after `prev` (the chain head); returns its hash, the new head."""
        row_hash = link_hash(prev, record.content)
        cursor.execute(self.sql.insert_event, {
            "id": record.id, "recorded": self.sql.bind_datetime(record.recorded),
            "action": record.action, "outcome": record.outcome, "interaction": record.interaction,
            "agent": record.agent[:255], "content": record.content, "prev_hash": prev,
            "hash": row_hash})
        pk = cursor.fetchone()[0] if self.sql.postgresql else cursor.lastrowid
        rows = [{"audit_pk": pk, "reference": ref[:160], "patient": patient}
                for ref, patient in record.entities]
        if len(rows) == 1:  # a read: one entity, and execute costs less than executemany
            cursor.execute(self.sql.insert_entity, rows[0])
        elif rows:
            cursor.executemany(self.sql.insert_entity, rows)
        return row_hash
