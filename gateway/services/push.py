"""Pushing a local write to the backend that owns its type, inside the same transaction.

May import: gateway.delivery, gateway.errors, gateway.store, gateway.services.validation.
The local write is flushed but not committed when the push runs: if the backend refuses
(422, with its reason) or cannot be reached (503 + Retry-After), the transaction rolls back,
so the client is never told a write was delivered when it was not.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.delivery import Delivery, DeliveryRefused, DeliveryUnavailable
from gateway.errors import ServiceUnavailable, Unprocessable
from gateway.services.validation import references_in
from gateway.store.backend_ids import BackendIdRepository
from gateway.store.resources import ResourceRepository


def _referenced_pairs(resource: dict) -> set[tuple[str, str]]:
    pairs = {(resource["resourceType"], resource["id"])}
    for _expr, reference in references_in(resource):
        parts = reference.split("/")
        if len(parts) >= 2 and "://" not in reference:
            pairs.add((parts[0], parts[1]))
    return pairs


def _related_patients(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """The referenced Patients, as stored: messages about an Appointment carry its PID."""
    repo = ResourceRepository(session)
    related = {}
    for rtype, rid in pairs:
        if rtype == "Patient":
            stored = repo.current(rtype, rid)
            if stored is not None and stored.content:
                related[(rtype, rid)] = json.loads(stored.content)
    return related


def push_write(session: Session, delivery: Delivery, interaction: str, resource: dict,
               now: datetime) -> None:
    """Deliver one write to its owning backend and record the backend id it answered."""
    backend = delivery.owner(resource["resourceType"])
    if backend == "local":
        return
    ids = BackendIdRepository(session)
    pairs = _referenced_pairs(resource)
    known = ids.lookup(backend, pairs)
    related = _related_patients(session, pairs - {(resource["resourceType"], resource["id"])})
    try:
        delivered = delivery.push(interaction, resource, known, related)
    except DeliveryRefused as exc:
        raise Unprocessable(f"Backend {exc.backend} refused the {interaction}: {exc.reason}") from None
    except DeliveryUnavailable as exc:
        raise ServiceUnavailable(
            f"Backend {exc.backend} cannot take the {interaction} now: {exc.reason}; nothing "
            "was stored or delivered, retry later", headers={"Retry-After": str(exc.retry_after)}) from None
    if delivered is not None and delivered.backend_id:
        ids.put(backend, resource["resourceType"], resource["id"], delivered.backend_id,
                delivered.profile, now)
