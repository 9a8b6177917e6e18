"""Pushing a local write to the backend that owns its type: at once, or through the outbox.

May import: gateway.delivery, gateway.errors, gateway.store, gateway.services.validation.
Runs inside the write's transaction, after the local write is flushed. Every write owed to a
backend leaves an outbox row in that same transaction (house rule 5: an accepted write ends
delivered or dead-lettered, never dropped):
- the backend has older writes still queued: the new one queues behind them (order kept);
- otherwise it is sent now: delivered -> a `delivered` row (the delivery log) and the backend's
  id; refused (HL7 AR/CR, vendor 4xx) -> 422 and the whole write rolls back, so the client
  fixes it; unreachable, AE, 429, 5xx or a spent budget -> the write commits with a `pending`
  row that the outbox worker retries with backoff (`delivery_when_unavailable = "queue"`, the
  default), or rolls back as a 503 + Retry-After (`"refuse"`, or for a $merge, which staff
  must see land or fail while they look at it).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from gateway.delivery import Delivery, DeliveryRefused, DeliveryState, DeliveryUnavailable
from gateway.errors import BadRequest, ServiceUnavailable, Unprocessable
from gateway.services.validation import references_in
from gateway.store.backend_ids import BackendIdRepository
from gateway.store.outbox import DEAD, DELIVERED, PENDING, NewMessage, OutboxRepository
from gateway.store.resources import ResourceRepository


class RetrySchedule(Protocol):
    """gateway.sync.backoff.RetryPolicy's shape (injected by create_app)."""

    def retry_after(self, attempt: int, hinted: float | None, rng: random.Random) -> float: ...

    def exhausted(self, attempt: int) -> bool: ...


@dataclass(frozen=True)
class DeliveryRules:
    """How writes owed to a backend behave when it cannot take them now."""

    retry: RetrySchedule
    max_age: timedelta = timedelta(days=1)  # a row older than this is dead-lettered, tries left or not
    queue_when_unavailable: bool = True
    rng: random.Random = field(default_factory=random.Random)  # jitter; seeded in tests

    def next_attempt(self, attempts: int, hinted: float | None, created: datetime,
                     now: datetime) -> datetime | None:
        """When to try again after `attempts` failed tries; None = dead-letter it now."""
        if self.retry.exhausted(attempts) or now - created >= self.max_age:
            return None
        return now + timedelta(seconds=self.retry.retry_after(attempts, hinted, self.rng))


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


def _related(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
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


def push_inputs(session: Session, backend: str, interaction: str, resource: dict):
    """What a message about `resource` needs besides itself: the backend ids of what it
    references, and the related resources (the version before an update: a changed start is
    a reschedule)."""
    pairs = _referenced_pairs(resource)
    known = BackendIdRepository(session).lookup(backend, pairs)
    key = (resource["resourceType"], resource["id"])
    related = _related(session, pairs - {key})
    version = version_of(resource)
    if interaction == "update" and version > 1:
        before = ResourceRepository(session).version(key[0], key[1], version - 1)
        if before is not None and before.content:
            related[key] = json.loads(before.content)
    return known, related


def record_ids(session: Session, backend: str, resource: dict, delivered, now: datetime) -> None:
    """Map the resource (and any record the backend found on the way) to the backend's ids."""
    ids = BackendIdRepository(session)
    if delivered.backend_id:
        ids.put(backend, resource["resourceType"], resource["id"], delivered.backend_id,
                delivered.profile, now)
    for (rtype, local_id), backend_id in delivered.found:
        ids.put(backend, rtype, local_id, backend_id, delivered.profile, now)


def check_one_per_record(session: Session, delivery: Delivery, backend: str, interaction: str,
                         resource: dict, known) -> None:
    """Refuse (422) a create that would overwrite the backend record another resource of the
    same type holds: the intake EHR keeps one insurance per patient record, so a second
    Coverage would silently replace the first there. Staff update or end that one instead."""
    target = delivery.landing_id(interaction, resource, known)
    if not target:
        return
    rtype = resource["resourceType"]
    holder = BackendIdRepository(session).local_id(backend, rtype, target)
    if holder is not None and holder != resource["id"]:
        raise Unprocessable(f"Backend {backend} keeps one {rtype} per record and {rtype}/{holder} "
                            f"already holds it; update {rtype}/{holder} (or end it) instead. "
                            "Nothing was sent")


def version_of(resource: dict) -> int:
    return int(resource.get("meta", {}).get("versionId", 1))


def push_write(session: Session, delivery: Delivery, interaction: str, resource: dict,
               now: datetime, rules: DeliveryRules | None, *, queue_only: bool = False,
               may_queue: bool = True) -> DeliveryState | None:
    """Deliver one write to its owning backend now, or queue it; None for the local store.
    `queue_only`: queue without trying (a transaction carrying several backend writes)."""
    backend = delivery.owner(resource["resourceType"])
    if backend == "local":
        return None
    may_queue = may_queue and rules is not None and rules.queue_when_unavailable
    outbox = OutboxRepository(session)
    message = NewMessage(backend, interaction, resource["resourceType"], resource["id"],
                         version_of(resource), delivery.profile(backend))
    if queue_only and not may_queue:
        raise BadRequest("This transaction has several writes owned by backend EHRs; with "
                         "delivery_when_unavailable = \"refuse\" a transaction may carry at most "
                         "one (send a batch instead)")
    if queue_only or outbox.has_backlog(backend):
        if not may_queue:
            raise ServiceUnavailable(
                f"Backend {backend} still has queued writes to deliver first; nothing was stored "
                "or delivered, retry when the outbox has drained", headers={"Retry-After": "30"})
        row = outbox.add(message, now)
        return DeliveryState("queued", backend, row.pk, "queued behind earlier writes"
                             if not queue_only else "queued with the rest of the transaction")
    known, related = push_inputs(session, backend, interaction, resource)
    check_one_per_record(session, delivery, backend, interaction, resource, known)
    try:
        delivered = delivery.push(interaction, resource, known, related)
    except DeliveryRefused as exc:
        raise Unprocessable(f"Backend {exc.backend} refused the {interaction}: {exc.reason}") from None
    except DeliveryUnavailable as exc:
        if not may_queue:
            raise ServiceUnavailable(
                f"Backend {exc.backend} cannot take the {interaction} now: {exc.reason}; nothing "
                "was stored or delivered, retry later", headers={"Retry-After": str(exc.retry_after)}) from None
        retry_at = rules.next_attempt(1, exc.hint, now, now)
        row = outbox.add(message, now, attempts=1, next_attempt_at=retry_at, error=exc.reason,
                         status=PENDING if retry_at else DEAD)
        return DeliveryState("queued" if retry_at else "dead-lettered", backend, row.pk,
                             f"backend unavailable: {exc.reason}")
    backend_id = delivered.backend_id if delivered is not None else None
    if delivered is not None:
        record_ids(session, backend, resource, delivered, now)
    row = outbox.add(message, now, status=DELIVERED, attempts=1, backend_id=backend_id)
    return DeliveryState("delivered", backend, row.pk)
