"""AuditRepository: the append-only, hash-chained AuditEvent log and its search.

May import: sqlalchemy, stdlib, gateway.store.models. Each row's hash is
sha256(previous row's hash + this row's canonical JSON); appends are serialized (SQLite's single
writer; a PostgreSQL transaction-level advisory lock) so the chain never forks.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, or_, select, text
from sqlalchemy.orm import Session

from gateway.store.models import AuditEntityRow, AuditEventRow

GENESIS = "0" * 64
LOCK_KEY = 0x61756469  # "audi": the advisory lock that serializes chain appends on PostgreSQL


_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_LAST_HASH = select(AuditEventRow.hash).order_by(AuditEventRow.pk.desc()).limit(1)
_INSERT_EVENT = insert(AuditEventRow.__table__)
_INSERT_ENTITY = insert(AuditEntityRow.__table__)


@dataclass(frozen=True)
class AuditRecord:
    id: str
    recorded: datetime
    action: str
    outcome: str
    interaction: str
    agent: str
    content: str  # canonical JSON of the AuditEvent
    entities: tuple[tuple[str, str | None], ...]  # (Type/id, patient id or None)


@dataclass(frozen=True)
class ChainCheck:
    checked: int
    broken_id: str | None = None
    reason: str = ""


def link_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, record: AuditRecord) -> None:
        conn = self.session.connection()  # prebuilt statements: this runs on every PHI call
        if conn.dialect.name == "postgresql":
            conn.execute(_LOCK, {"k": LOCK_KEY})
        prev = conn.execute(_LAST_HASH).scalar() or GENESIS
        result = conn.execute(_INSERT_EVENT, {
            "id": record.id, "recorded": record.recorded, "action": record.action,
            "outcome": record.outcome, "interaction": record.interaction,
            "agent": record.agent[:255], "content": record.content, "prev_hash": prev,
            "hash": link_hash(prev, record.content)})
        pk = result.inserted_primary_key[0]
        if record.entities:
            conn.execute(_INSERT_ENTITY, [{"audit_pk": pk, "reference": ref[:160], "patient": patient}
                                          for ref, patient in record.entities])

    def verify(self) -> ChainCheck:
        """Walk the chain in order; name the first row whose link does not hold."""
        prev, checked = GENESIS, 0
        rows = self.session.execute(
            select(AuditEventRow.id, AuditEventRow.content, AuditEventRow.prev_hash,
                   AuditEventRow.hash).order_by(AuditEventRow.pk)).yield_per(1000)
        for audit_id, content, prev_hash, row_hash in rows:
            if prev_hash != prev:
                return ChainCheck(checked, audit_id, "prev_hash does not match the previous row "
                                  "(a row was deleted or inserted)")
            if link_hash(prev, content) != row_hash:
                return ChainCheck(checked, audit_id, "content does not match its hash (edited)")
            prev, checked = row_hash, checked + 1
        return ChainCheck(checked)

    def read(self, audit_id: str) -> str | None:
        return self.session.execute(
            select(AuditEventRow.content).where(AuditEventRow.id == audit_id)).scalar()

    def search(self, filters: "AuditFilters", *, count: int, before_pk: int | None
               ) -> tuple[list[tuple[int, str]], int]:
        """Matching events newest first, paged by pk (stable while new events are appended)."""
        conditions = filters.conditions()
        total = self.session.execute(
            select(func.count()).select_from(AuditEventRow).where(*conditions)).scalar_one()
        if before_pk is not None:
            conditions.append(AuditEventRow.pk <= before_pk)
        rows = self.session.execute(
            select(AuditEventRow.pk, AuditEventRow.content).where(*conditions)
            .order_by(AuditEventRow.pk.desc()).limit(count + 1)).all()
        return [(pk, content) for pk, content in rows], total


@dataclass
class AuditFilters:
    """Parsed AuditEvent search criteria; each list is OR within, the fields AND together."""

    recorded: list[tuple[str, datetime]] = field(default_factory=list)  # (op, moment) ANDed
    agents: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)

    def conditions(self) -> list:
        ops = {"lt": "__lt__", "le": "__le__", "gt": "__gt__", "ge": "__ge__", "eq": "__eq__"}
        out = [getattr(AuditEventRow.recorded, ops[op])(moment) for op, moment in self.recorded]
        if self.agents:
            out.append(AuditEventRow.agent.in_(self.agents))
        if self.actions:
            out.append(AuditEventRow.action.in_(self.actions))
        if self.outcomes:
            out.append(AuditEventRow.outcome.in_(self.outcomes))
        if self.entities:
            out.append(or_(*[_entity(reference=r) for r in self.entities]))
        if self.patients:
            # the patient's own entity carries it in the reference (its patient column is NULL)
            out.append(or_(*[_entity(patient=p) for p in self.patients],
                           *[_entity(reference=f"Patient/{p}") for p in self.patients]))
        return out


def _entity(reference: str | None = None, patient: str | None = None):
    """EXISTS (an entity row of this event with that reference / patient)."""
    query = select(AuditEntityRow.pk).where(AuditEntityRow.audit_pk == AuditEventRow.pk)
    if reference is not None:
        query = query.where(AuditEntityRow.reference == reference)
    if patient is not None:
        query = query.where(AuditEntityRow.patient == patient)
    return query.exists()
