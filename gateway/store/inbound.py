"""InboundRepository: the raw inbound message log (persist first, then translate and apply).

May import: sqlalchemy, stdlib, gateway.store.models.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from gateway.store.models import InboundMessageRow


class InboundRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, backend: str, received: datetime, control_id: str, message_type: str,
               raw: str) -> int:
        result = self.session.execute(insert(InboundMessageRow.__table__).values(
            backend=backend, received=received, control_id=control_id[:64],
            message_type=message_type[:32], raw=raw, status="received", detail=""))
        return result.inserted_primary_key[0]

    def finish(self, pk: int, status: str, detail: str = "", resource_ref: str | None = None) -> None:
        self.session.execute(update(InboundMessageRow).where(InboundMessageRow.pk == pk).values(
            status=status, detail=detail[:2000], resource_ref=resource_ref))
