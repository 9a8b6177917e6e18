"""InboundRepository: the raw inbound message log (persist first, then translate and apply).

May import: sqlalchemy, stdlib, gateway.store.models. MLLP messages are recorded as they come
(senders may reuse control ids); webhook events carry an event id, unique per backend, so a
redelivery finds the row its first delivery left instead of adding one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.store.models import InboundMessageRow


@dataclass(frozen=True)
class InboundRecord:
    """A recorded event: its row, where it got to, and whether this call created it."""

    pk: int
    status: str
    detail: str
    resource_ref: str | None
    new: bool


class InboundRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, backend: str, received: datetime, control_id: str, message_type: str,
               raw: str, event_id: str | None = None) -> int:
        result = self.session.execute(insert(InboundMessageRow.__table__).values(
            backend=backend, received=received, control_id=control_id[:64],
            message_type=message_type[:32], raw=raw, status="received", detail="",
            event_id=event_id))
        return result.inserted_primary_key[0]

    def record_event(self, backend: str, received: datetime, event_id: str, event_type: str,
                     raw: str) -> InboundRecord:
        """The event's row: a new one, or the one an earlier delivery of the same id left (a
        concurrent first delivery is waited for by the unique index, then found)."""
        try:
            with self.session.begin_nested():
                pk = self.record(backend, received, event_id, event_type, raw, event_id)
            return InboundRecord(pk, "received", "", None, True)
        except IntegrityError:
            row = self.session.execute(select(InboundMessageRow).where(
                InboundMessageRow.backend == backend, InboundMessageRow.event_id == event_id)).scalar_one()
            return InboundRecord(row.pk, row.status, row.detail, row.resource_ref, False)

    def finish(self, pk: int, status: str, detail: str = "", resource_ref: str | None = None) -> None:
        self.session.execute(update(InboundMessageRow).where(InboundMessageRow.pk == pk).values(
            status=status, detail=detail[:2000], resource_ref=resource_ref))
