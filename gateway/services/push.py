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
    for content in resource.get("content", []) if resource["resourceType"] == "DocumentReference" else []:
        url = str(content.get("attachment", {}).get("url", ""))
        if url.startswith("Binary/"):  # Attachment.url is no Reference, but names the content
            pairs.add(("Binary", url.split("/", 1)[1]))
    return pairs


def _related_patients(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """The referenced Patients and Binaries, as stored: messages about an Appointment carry its
    PID, an MDM^T02 for a DocumentReference carries its Binary's content."""
    repo = ResourceRepository(session)
    related = {}
    for rtype, rid in pairs:
        if rtype in ("Patient", "Binary"):
            stored = repo.current(rtype, rid)
            if stored is not None and stored.content:
                related[(rtype, rid)] = json.loads(stored.content)
    return related


def _previous_version(session: Session, resource: dict) -> dict | None:
    """The version before this (flushed, uncommitted) update, if there is one."""
    repo = ResourceRepository(session)
    current = repo.current(resource["resourceType"], resource["id"])
    if current is None or current.version_id < 2:
        return None
    before = repo.version(resource["resourceType"], resource["id"], current.version_id - 1)
    return json.loads(before.content) if before is not None and before.content else None


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
    previous = _previous_version(session, resource) if interaction == "update" else None
    if previous is not None:  # what the backend saw before: a changed start is a reschedule
        related[(resource["resourceType"], resource["id"])] = previous
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
