"""BackendIdRepository: which id each resource has in each backend EHR.

May import: sqlalchemy, stdlib, gateway.store.models. Written in the same transaction as the
resource write whose delivery produced the id, so a mapping never outlives a rolled-back write.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.store.models import BackendIdRow


class BackendIdRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lookup(self, backend: str, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(type, local id) -> backend id, for the pairs that have one."""
        if not pairs:
            return {}
        ids = {local_id for _t, local_id in pairs}
        rows = self.session.execute(select(BackendIdRow).where(
            BackendIdRow.backend == backend, BackendIdRow.resource_id.in_(ids))).scalars()
        return {(r.resource_type, r.resource_id): r.backend_id for r in rows
                if (r.resource_type, r.resource_id) in pairs}

    def local_id(self, backend: str, resource_type: str, backend_id: str) -> str | None:
        return self.session.execute(select(BackendIdRow.resource_id).where(
            BackendIdRow.backend == backend, BackendIdRow.resource_type == resource_type,
            BackendIdRow.backend_id == backend_id)).scalar()

    def put(self, backend: str, resource_type: str, resource_id: str, backend_id: str,
            profile: str, now: datetime) -> None:
        """Map the resource to the backend's record. A record that held another resource of
        this type moves to this one, since the backend answered that this write lives there now
        (push.check_one_per_record refuses such writes beforehand where it can tell; this keeps
        an unforeseen case from failing after the backend already took the write)."""
        self.session.execute(delete(BackendIdRow).where(
            BackendIdRow.backend == backend, BackendIdRow.resource_type == resource_type,
            (BackendIdRow.resource_id == resource_id) | (BackendIdRow.backend_id == backend_id)))
        self.session.add(BackendIdRow(backend=backend, resource_type=resource_type,
                                      resource_id=resource_id, backend_id=backend_id,
                                      profile=profile, created=now))
        self.session.flush()

    def forget(self, backend: str, resource_type: str, resource_id: str) -> None:
        """Drop a resource's id at one backend (the backend deleted its record)."""
        self.session.execute(delete(BackendIdRow).where(
            BackendIdRow.backend == backend, BackendIdRow.resource_type == resource_type,
            BackendIdRow.resource_id == resource_id))
