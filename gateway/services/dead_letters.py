"""DeadLetters: what staff do with the outbox — inspect it, replay a dead letter, discard one.

May import: gateway.errors, gateway.store, gateway.services.*, stdlib. Every call is audited
(an outbox row names a patient's resource and the EHR's reason may quote its data). A replay
never re-sends a stale version: it sends the resource's *current* version, so an old dead
update cannot overwrite newer data at the EHR. A discard needs a reason.
Only dead rows can be replayed or discarded (409 otherwise). A replayed row goes back to
`pending` in its own place in the backend's queue (ahead of writes made after it: a dead
create must reach the EHR before the updates that followed it), with the tries reset.
"""
from __future__ import annotations

import json
from datetime import datetime

from gateway.errors import BadRequest, Conflict, NotFound
from gateway.services.audit import Agent
from gateway.services.canonical import instant
from gateway.store.models import OutboxRow
from gateway.store.outbox import DEAD, DISCARDED, STATUSES, OutboxRepository
from gateway.store.resources import ResourceRepository

MAX_PAGE = 200


def _when(moment: datetime | None) -> str | None:
    return instant(moment) if moment is not None else None


def as_dict(row: OutboxRow) -> dict:
    return {"id": row.pk, "backend": row.backend, "interaction": row.interaction,
            "resource": f"{row.resource_type}/{row.resource_id}", "version": row.version_id,
            "profile": row.profile, "status": row.status, "attempts": row.attempts,
            "created": _when(row.created), "next_attempt_at": _when(row.next_attempt_at),
            "last_attempt_at": _when(row.last_attempt_at), "finished": _when(row.finished),
            "backend_id": row.backend_id, "last_error": row.last_error,
            "closed_by": row.closed_by, "note": row.note}


class DeadLetters:
    def __init__(self, service) -> None:
        self.service = service  # FhirService: unit(), clock

    def page(self, agent: Agent, *, status: str | None = None, backend: str | None = None,
             before: int | None = None, limit: int = 50) -> dict:
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}", expression=("status",))
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be 1..{MAX_PAGE}", expression=("limit",))
        query = f"outbox?status={status or ''}&backend={backend or ''}"
        with self.service.unit(agent, "search-type", query=query) as (session, note):
            outbox = OutboxRepository(session)
            rows = outbox.page(status=status, backend=backend, before=before, limit=limit)
            counts = outbox.counts()
            note.resources.extend(_touched(row) for row in rows)
        return {"items": [as_dict(row) for row in rows],
                "next_before": rows[-1].pk if len(rows) == limit else None,
                "counts": [{"backend": b, "status": s, "messages": n}
                           for (b, s), n in sorted(counts.items())]}

    def show(self, agent: Agent, pk: int) -> dict:
        """The row and the resource version it carries (PHI: audited as a read)."""
        with self.service.unit(agent, "read", refs=(f"outbox/{pk}",)) as (session, note):
            row = self._row(session, pk)
            stored = ResourceRepository(session).version(row.resource_type, row.resource_id, row.version_id)
            out = as_dict(row)
            out["content"] = json.loads(stored.content) if stored is not None and stored.content else None
            note.resources.append(_touched(row))
        return out

    def replay(self, agent: Agent, pk: int) -> dict:
        with self.service.unit(agent, "operation", refs=(f"outbox/{pk}",), query=f"outbox/{pk}/$replay") as (session, note):
            row = self._row(session, pk, lock=True)
            self._replay_row(session, row, agent)
            note.resources.append(_touched(row))
        return as_dict(row)

    def replay_all(self, agent: Agent, backend: str | None = None) -> dict:
        """Every dead letter (of one backend), oldest first; rows that cannot be replayed are
        listed with the reason and left dead."""
        replayed, skipped = [], []
        with self.service.unit(agent, "operation", query=f"outbox/$replay?backend={backend or ''}") as (session, note):
            outbox = OutboxRepository(session)
            dead = sorted(outbox.page(status=DEAD, backend=backend, limit=10_000), key=lambda r: r.pk)
            for row in dead:
                try:
                    with session.begin_nested():
                        self._replay_row(session, row, agent)
                        replayed.append(as_dict(row))
                        note.resources.append(_touched(row))
                except Conflict as exc:
                    skipped.append({"id": row.pk, "reason": exc.diagnostics})
        return {"replayed": replayed, "skipped": skipped}

    def discard(self, agent: Agent, pk: int, reason: str) -> dict:
        if not reason or not reason.strip():
            raise BadRequest("a discard needs a reason (who fixed it, and how)", expression=("reason",))
        with self.service.unit(agent, "operation", refs=(f"outbox/{pk}",), query=f"outbox/{pk}/$discard") as (session, note):
            row = self._row(session, pk, lock=True)
            if row.status != DEAD:
                raise Conflict(f"outbox row {pk} is {row.status}; only dead letters can be discarded")
            OutboxRepository.close(row, DISCARDED, self.service.clock(), agent.name, reason.strip())
            note.resources.append(_touched(row))
        return as_dict(row)

    # -- internals ---------------------------------------------------------------------------
    @staticmethod
    def _row(session, pk: int, lock: bool = False) -> OutboxRow:
        row = OutboxRepository(session).get(pk, lock=lock)
        if row is None:
            raise NotFound(f"outbox row {pk} is not known")
        return row

    def _replay_row(self, session, row: OutboxRow, agent: Agent) -> None:
        if row.status != DEAD:
            raise Conflict(f"outbox row {row.pk} is {row.status}; only dead letters can be replayed")
        current = ResourceRepository(session).current(row.resource_type, row.resource_id)
        reference = f"{row.resource_type}/{row.resource_id}"
        if current is None:
            raise Conflict(f"{reference} is no longer stored; discard this dead letter")
        if current.deleted and row.interaction != "delete":
            raise Conflict(f"{reference} was deleted after this {row.interaction}; discard it "
                           "(the delete has its own outbox row)")
        if not current.deleted and row.interaction == "delete":
            raise Conflict(f"{reference} was written again after this delete; discard it")
        # the current version (for a delete: the last version that had content)
        version = current.version_id - 1 if current.deleted else current.version_id
        now = self.service.clock()
        history = (f"replayed by {agent.name} at {instant(now)} as version {version}; it was dead "
                   f"after {row.attempts} tries")
        OutboxRepository.reopen(row, now, version, self.service.delivery.profile(row.backend) or row.profile,
                                agent.name, history)


def _touched(row: OutboxRow) -> dict:
    """The resource an outbox row names, as the audit trail records it (type and id)."""
    return {"resourceType": row.resource_type, "id": row.resource_id}
