"""Applying a vendor's webhook events to the gateway's mirror, with their raw record and audit.

May import: gateway.store, gateway.errors, gateway.services.*. The sync side
(gateway.sync.events) verifies, parses, fetches and translates; this side owns the database:
the raw event recorded first and found again on redelivery, the vendor record merged into the
mirror in one audited unit of work (the backend is the agent), deletions, and the security
AuditEvent for a delivery that failed its signature check. What a backend sends is never
pushed back to it (Interactions without a push hook).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Callable

from gateway.errors import Gone
from gateway.services.audit import Agent
from gateway.services.inbound import InboundApplier, _resolve_patients
from gateway.services.interactions import Interactions
from gateway.services.validation import validate_resource
from gateway.store.backend_ids import BackendIdRepository
from gateway.store.inbound import InboundRecord, InboundRepository
from gateway.store.resources import ResourceRepository

Overlay = Callable[[dict, dict], dict]  # (held resource, the vendor's record as FHIR) -> merged


@dataclass(frozen=True)
class EventApplied:
    """What an event did to the mirror: the local resource, and the change (created, updated,
    unchanged, deleted, inactivated, unlinked, absent)."""

    reference: str | None
    change: str


def _agent(backend: str, address: str | None) -> Agent:
    return Agent(client_id=f"backend:{backend}", address=address)


class EventApplier(InboundApplier):
    """InboundApplier plus what webhook events need (dedupe, merge, removal, alerts)."""

    def record_event(self, backend: str, event_id: str, event_type: str, raw: str) -> InboundRecord:
        with self.service.db.transaction() as session:
            return InboundRepository(session).record_event(backend, self.service.clock(), event_id,
                                                           event_type, raw)

    def record_refused(self, backend: str, raw: str, reason: str) -> None:
        """An authenticated body that is no event (not JSON, no id): kept, refused, unkeyed."""
        with self.service.db.transaction() as session:
            repo = InboundRepository(session)
            pk = repo.record(backend, self.service.clock(), "", "invalid", raw)
            repo.finish(pk, "refused", reason)

    def local_id(self, backend: str, resource_type: str, backend_id: str) -> str | None:
        with self.service.db.read() as session:
            return BackendIdRepository(session).local_id(backend, resource_type, backend_id)

    def upsert(self, backend: str, profile: str, resource_type: str, backend_id: str,
               fresh: dict, overlay: Overlay, address: str | None = None) -> EventApplied:
        """Merge the vendor's record into the resource its backend id maps to (else the one
        with its identifier), or create it; a merge that changes nothing writes nothing."""
        with self.service.unit(_agent(backend, address), "update") as (session, note):
            resource = copy.deepcopy(fresh)
            _resolve_patients(session, backend, resource)
            ops = Interactions(session, self.service.clock(), "")  # no push back to the source
            ids = BackendIdRepository(session)
            local = ids.local_id(backend, resource_type, backend_id) or self._match(ops, resource)
            if local is None:
                stored, change = ops.create(validate_resource(resource, resource_type)).stored, "created"
                content = json.loads(stored.content)
            else:
                content, change = self._merge(ops, resource_type, local, resource, overlay)
            ids.put(backend, resource_type, content["id"], backend_id, profile, ops.now)
            note.resources.append(content)
            return EventApplied(f"{resource_type}/{content['id']}", change)

    @staticmethod
    def _merge(ops: Interactions, resource_type: str, local: str, resource: dict,
               overlay: Overlay) -> tuple[dict, str]:
        try:
            held = json.loads(ops.read(resource_type, local).content)
        except Gone:  # deleted here, yet the vendor holds it: its record is the truth again
            held = {"resourceType": resource_type, "id": local}
        current = {k: v for k, v in held.items() if k != "meta"}
        merged = overlay(current, resource) | {"id": local}
        if merged == held or merged == current:
            return held, "unchanged"  # an echo, or a redelivery: no new version
        stored = ops.update(validate_resource(merged, resource_type), local).stored
        return json.loads(stored.content), "updated"

    def remove(self, backend: str, resource_type: str, backend_id: str, owned: bool,
               address: str | None = None) -> EventApplied:
        """The vendor deleted its record. Its backend id is forgotten; when this backend owns
        the type, the mirror resource is deleted too (R4 http.html#delete), or, a Patient that
        others still reference, made inactive (Patient.active, R4: "no longer in use").
        Another backend's resource is only unlinked: its owner, not this vendor, says whether
        it exists."""
        local = self.local_id(backend, resource_type, backend_id)
        if local is None:
            return EventApplied(None, "absent")
        with self.service.db.read() as session:
            referrer = ResourceRepository(session).referenced_by(resource_type, local)
        delete = owned and referrer is None
        interaction = "delete" if delete else "update"
        with self.service.unit(_agent(backend, address), interaction, refs=(f"{resource_type}/{local}",)) \
                as (session, note):
            ops = Interactions(session, self.service.clock(), "")
            BackendIdRepository(session).forget(backend, resource_type, local)
            if delete:
                ops.delete(resource_type, local)
                return EventApplied(f"{resource_type}/{local}", "deleted")
            if not owned or resource_type != "Patient":
                return EventApplied(f"{resource_type}/{local}", "unlinked")
            current = {k: v for k, v in json.loads(ops.read("Patient", local).content).items() if k != "meta"}
            stored = ops.update(current | {"active": False}, local).stored
            note.resources.append(json.loads(stored.content))
            return EventApplied(f"Patient/{local}", "inactivated")

    def alert(self, backend: str, address: str | None, reason: str) -> None:
        """A delivery that failed its signature check: a security AuditEvent, nothing else."""
        self.service.audit_only(_agent(backend, address), "security-alert", 401,
                                description=f"webhook signature check failed: {reason}")

    def refused(self, backend: str, address: str | None, status: int, reason: str,
                refs: tuple[str, ...] = ()) -> None:
        """An authenticated event that could not be applied (untranslatable record, vendor
        refusal): audited, since the fetched record was PHI the gateway held for a moment."""
        self.service.audit_only(_agent(backend, address), "update", status, refs,
                                description=reason[:200])
