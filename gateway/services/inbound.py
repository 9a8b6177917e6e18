"""Applying a backend's inbound message to the gateway's mirror, with its raw record and audit.

May import: gateway.store, gateway.errors, gateway.services.*. The raw message is recorded
first, in its own transaction, so it survives whatever happens next. The translated resource
is merged into the local resource the backend id maps to (elements the message does not carry
are kept: an ADT^A08 never erases what the front desk added), or matched by identifier, or
created. Inbound writes are never pushed back to the backend they came from.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.errors import Conflict, FhirError, Unprocessable
from gateway.services.audit import Agent
from gateway.services.interactions import Interactions
from gateway.services.validation import validate_resource
from gateway.store.backend_ids import BackendIdRepository
from gateway.store.inbound import InboundRepository


@dataclass(frozen=True)
class Applied:
    reference: str
    created: bool


def _resolve_patients(session, backend: str, resource: dict) -> None:
    """Participant actors given by MRN become references to the local Patients."""
    ids = BackendIdRepository(session)
    for participant in resource.get("participant", []):
        actor = participant.get("actor", {})
        identifier = actor.get("identifier")
        if identifier and "reference" not in actor:
            local = ids.local_id(backend, "Patient", identifier.get("value", ""))
            if local is None:
                raise Unprocessable(f"unknown patient {identifier.get('value')!r}: register it first")
            actor["reference"] = f"Patient/{local}"


class InboundApplier:
    def __init__(self, service) -> None:
        self.service = service  # FhirService: db, clock, unit()

    def record_raw(self, backend: str, control_id: str, message_type: str, raw: str) -> int:
        with self.service.db.transaction() as session:
            return InboundRepository(session).record(backend, self.service.clock(), control_id,
                                                     message_type, raw)

    def finish(self, pk: int, status: str, detail: str = "", reference: str | None = None) -> None:
        with self.service.db.transaction() as session:
            InboundRepository(session).finish(pk, status, detail, reference)

    def apply(self, backend: str, profile: str, resource: dict, backend_id: str) -> Applied:
        rtype = resource["resourceType"]
        agent = Agent(client_id=f"backend:{backend}")
        with self.service.unit(agent, "update") as (session, note):
            _resolve_patients(session, backend, resource)
            validate_resource(resource, rtype)
            ops = Interactions(session, self.service.clock(), "")  # no push back to the source
            ids = BackendIdRepository(session)
            local = ids.local_id(backend, rtype, backend_id) or self._match(ops, resource)
            if local is None:
                stored, created = ops.create(resource).stored, True
            else:
                current = json.loads(ops.read(rtype, local).content)
                merged = {k: v for k, v in current.items() if k != "meta"} | resource | {"id": local}
                stored, created = ops.update(merged, local).stored, False
            ids.put(backend, rtype, stored.id, backend_id, profile, ops.now)
            note.resources.append(json.loads(stored.content))
            return Applied(f"{rtype}/{stored.id}", created)

    @staticmethod
    def _match(ops: Interactions, resource: dict) -> str | None:
        """An existing resource with the same identifier (system|value), if exactly one."""
        for identifier in resource.get("identifier", []):
            if identifier.get("system") and identifier.get("value"):
                found = ops.match(resource["resourceType"],
                                  f"identifier={identifier['system']}|{identifier['value']}")
                if len(found) > 1:
                    raise Conflict(f"{len(found)} {resource['resourceType']} resources share "
                                   "this identifier; manual review needed")
                if found:
                    return found[0]
        return None


__all__ = ["InboundApplier", "Applied", "FhirError"]
