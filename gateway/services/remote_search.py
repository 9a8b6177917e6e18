"""Searches the owning backend answers itself (IHE PDQ for an HL7 v2 EHR), mirrored locally.

May import: gateway.delivery, gateway.errors, gateway.store, gateway.services.*. When the
owner's profile says the EHR answers a search, the EHR is asked first; each Patient it returns
is written to the mirror (created, or merged into the local resource its backend id maps to,
unchanged ones left alone so a search does not mint versions) and the search is then answered
from the mirror restricted to those resources. An EHR that should answer but cannot is a 503:
a stale mirror is not silently passed off as the EHR's answer.
"""
from __future__ import annotations

import json

from gateway.delivery import DeliveryUnavailable
from gateway.errors import ServiceUnavailable
from gateway.services.audit import Agent
from gateway.services.inbound import InboundApplier
from gateway.services.interactions import Interactions
from gateway.services.validation import validate_resource
from gateway.store.backend_ids import BackendIdRepository
from translators.dialects import RESULT_PARAMS



def mirror_query(service, resource_type: str, params: list[tuple[str, str]]) -> list[str] | None:
    """Local ids of what the owning backend answered, after mirroring; None = not asked."""
    query = getattr(service.delivery, "query", None)
    if query is None:
        return None
    try:
        result = query(resource_type, params)
    except DeliveryUnavailable as exc:
        raise ServiceUnavailable(f"Backend {exc.backend} cannot answer the search now: {exc.reason}",
                                 headers={"Retry-After": str(exc.retry_after)}) from None
    if result is None:
        return None
    backend = service.delivery.owner(resource_type)
    local_ids: list[str] = []
    with service.unit(Agent(client_id=f"backend:{backend}"), "update") as (session, note):
        ops = Interactions(session, service.clock(), "")  # mirrored, never pushed back
        ids = BackendIdRepository(session)
        for backend_id, answered in result.matches:
            resource = validate_resource(json.loads(json.dumps(answered)), resource_type)
            local = ids.local_id(backend, resource_type, backend_id) or InboundApplier._match(ops, resource)
            if local is None:
                stored = ops.create(resource).stored
                note.resources.append(json.loads(stored.content))
                local = stored.id
            else:
                current = {k: v for k, v in json.loads(ops.read(resource_type, local).content).items()
                           if k != "meta"}
                merged = current | resource | {"id": local}
                if merged != current:
                    note.resources.append(json.loads(ops.update(merged, local).stored.content))
            ids.put(backend, resource_type, local, backend_id, result.profile, ops.now)
            local_ids.append(local)
    return local_ids


def restricted_params(params: list[tuple[str, str]], local_ids: list[str]) -> list[tuple[str, str]]:
    """The local search that returns exactly the backend's answer, paged and sorted as asked."""
    kept = [(k, v) for k, v in params if k in RESULT_PARAMS]
    # An empty answer still needs a valid search: `_id=|` matches no resource (no id is empty).
    return kept + [("_id", ",".join(dict.fromkeys(local_ids)) or "|")]
