"""Applying a backend's inbound message to the gateway's mirror, with its raw record and audit.

May import: gateway.store, gateway.errors, gateway.services.*. The raw message is recorded
first, in its own transaction, so it survives whatever happens next. The translated resource
is merged into the local resource the backend id maps to (elements the message does not carry
are kept: an ADT^A08 never erases what the front desk added), or matched by identifier, or
created. Inbound writes are never pushed back to the backend they came from. A merge (ADT^A40)
links the two Patients (Patient.link replaces / replaced-by) only when both are known.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.errors import Conflict, FhirError, NotFound, Unprocessable
from gateway.services.audit import Agent
from gateway.services.duplicates import flag_duplicates
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
    actors = [p.get("actor", {}) for p in resource.get("participant", [])]
    # Coverage.beneficiary and DocumentReference.subject arrive by MRN too (PID-3)
    actors += [resource[k] for k in ("beneficiary", "subject") if isinstance(resource.get(k), dict)]
    for actor in actors:
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
            ops.after_write = self.service.notify.hooked(ops.after_write, session, ops.now)
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
            flag_duplicates(session, self.service.settings, "create" if created else "update",
                            note.resources[-1], ops.now)  # the EHR's duplicates are queued too
            return Applied(f"{rtype}/{stored.id}", created)

    def merge(self, backend: str, profile: str, instructions) -> list[str]:
        """Apply merge instructions (ADT^A40) to the mirror, all or nothing: the merged
        Patient becomes inactive with link replaced-by -> the survivor, the survivor gets
        link replaces -> it (FHIR R4 Patient.link). Either patient unknown -> NotFound and
        nothing changes: a merge never lands on a guessed person."""
        agent = Agent(client_id=f"backend:{backend}")
        with self.service.unit(agent, "update") as (session, note):
            ops = Interactions(session, self.service.clock(), "")  # no push back to the source
            ops.after_write = self.service.notify.hooked(ops.after_write, session, ops.now)
            ids, touched = BackendIdRepository(session), []
            for instruction in instructions:
                survivor = dict(instruction.surviving)
                keep = self._known(ops, ids, backend, instruction.surviving_id, survivor["identifier"][0])
                gone = self._known(ops, ids, backend, instruction.merged_id, dict(instruction.merged_identifier))
                if keep == gone:
                    raise Unprocessable(f"MRNs {instruction.surviving_id!r} and {instruction.merged_id!r} "
                                        "are the same local patient; nothing merged")
                kept = self._linked(ops, keep, survivor, gone, "replaces")
                retired = self._linked(ops, gone, {"active": False}, keep, "replaced-by")
                note.resources += [json.loads(kept.content), json.loads(retired.content)]
                ids.put(backend, "Patient", keep, instruction.surviving_id, profile, ops.now)
                touched.append(f"Patient/{gone}->Patient/{keep}")
            return touched

    def _known(self, ops: Interactions, ids: BackendIdRepository, backend: str, mrn: str,
               identifier: dict) -> str:
        local = ids.local_id(backend, "Patient", mrn) or self._match(
            ops, {"resourceType": "Patient", "identifier": [identifier]})
        if local is None:
            raise NotFound(f"unknown patient: MRN {mrn!r} is not known to the gateway; nothing merged")
        return local

    @staticmethod
    def _linked(ops: Interactions, local: str, changes: dict, other: str, link_type: str):
        current = {k: v for k, v in json.loads(ops.read("Patient", local).content).items() if k != "meta"}
        link = {"other": {"reference": f"Patient/{other}"}, "type": link_type}
        links = [item for item in current.get("link", []) if item != link] + [link]
        merged = current | {k: v for k, v in changes.items() if k != "id"} | {"id": local, "link": links}
        validate_resource(merged, "Patient")
        return ops.update(merged, local).stored

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
