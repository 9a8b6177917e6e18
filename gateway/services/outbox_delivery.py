"""OutboxDeliverer: one worker pass over the outbox, delivering each backend's oldest due row.

May import: gateway.delivery, gateway.store, gateway.services.push, stdlib. A row is claimed
with a lease in a short transaction, rendered from the exact resource version it recorded
(read in a read session: no writer lock is held while the EHR answers), sent through the same
Delivery as a live write (same translators, metrics and budgets), and its outcome recorded in
a second short transaction that first checks the lease is still ours:
- delivered: the row becomes `delivered`, the backend's id is mapped;
- refused (HL7 AR/CR, vendor 4xx): dead-lettered at once, a retry would be refused again;
- unavailable (down, AE, 429, 5xx, spent budget) or an unexpected error: retried with jittered
  exponential backoff (honouring Retry-After), dead-lettered once the tries or the maximum age
  are spent. Reasons are stored on the row for staff, never logged (they may quote data).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from gateway.delivery import Delivery, DeliveryRefused, DeliveryUnavailable
from gateway.errors import FhirError
from gateway.services.push import DeliveryRules, check_one_per_record, push_inputs
from gateway.store.backend_ids import BackendIdRepository
from gateway.store.db import Database
from gateway.store.outbox import OutboxRepository
from gateway.store.resources import ResourceRepository

log = logging.getLogger("gateway.sync.outbox")


@dataclass
class DeliveryRound:
    """What one pass did (counts only: these are logged and returned by `worker --once`)."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost_leases: int = 0
    lag_seconds: list[tuple[str, float]] = field(default_factory=list)  # (backend, created -> delivered)

    @property
    def tried(self) -> int:
        return self.delivered + self.retried + self.dead

    def as_dict(self) -> dict:
        return {"delivered": self.delivered, "retried": self.retried, "dead": self.dead,
                "lost_leases": self.lost_leases}


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    backend_id: str | None = None
    profile: str = ""
    error: str = ""
    permanent: bool = False
    hinted: float | None = None
    found: tuple = ()  # Delivered.found


class OutboxDeliverer:
    def __init__(self, db: Database, delivery: Delivery, rules: DeliveryRules,
                 clock: Callable[[], datetime], lease: timedelta = timedelta(minutes=5)) -> None:
        self.db, self.delivery, self.rules, self.clock, self.lease = db, delivery, rules, clock, lease

    def deliver_due(self, holder: str) -> DeliveryRound:
        """Deliver the oldest due row of every backend once; call again for the next ones."""
        done = DeliveryRound()
        now = self.clock()
        with self.db.read() as session:
            heads = OutboxRepository(session).due_heads(now)
        for pk in heads:
            with self.db.transaction() as session:
                if not OutboxRepository(session).claim(pk, holder, now, now + self.lease):
                    continue  # another worker took it, or it was replayed/discarded meanwhile
            self._deliver(pk, holder, done)
        return done

    def drain(self, holder: str, max_rounds: int = 1000) -> DeliveryRound:
        """Passes until nothing due is left (or `max_rounds`): what `worker --once` runs."""
        total = DeliveryRound()
        for _ in range(max_rounds):
            step = self.deliver_due(holder)
            total.delivered += step.delivered
            total.retried += step.retried
            total.dead += step.dead
            total.lost_leases += step.lost_leases
            total.lag_seconds += step.lag_seconds
            if step.delivered == 0:  # only successes make a later row of a backend due now
                break
        return total

    def _deliver(self, pk: int, holder: str, done: DeliveryRound) -> None:
        with self.db.read() as session:  # gather first: no transaction stays open while we send
            row = OutboxRepository(session).get(pk)
            interaction, resend = row.interaction, row.attempts > 0
            stored = ResourceRepository(session).version(row.resource_type, row.resource_id, row.version_id)
            inputs, refusal = None, f"{row.resource_type}/{row.resource_id} version {row.version_id} is not stored"
            if stored is not None and stored.content:
                resource = json.loads(stored.content)
                inputs = (resource, *push_inputs(session, row.backend, interaction, resource))
                try:
                    check_one_per_record(session, self.delivery, row.backend, interaction, resource, inputs[1])
                except FhirError as exc:
                    inputs, refusal = None, exc.diagnostics
        outcome = (self._send(interaction, *inputs, resend=resend) if inputs is not None
                   else _Outcome(False, error=refusal, permanent=True))
        self._record(pk, holder, outcome, done)

    def _send(self, interaction: str, resource: dict, known, related, *, resend: bool) -> _Outcome:
        try:
            delivered = self.delivery.push(interaction, resource, known, related, resend=resend)
        except DeliveryRefused as exc:
            return _Outcome(False, error=exc.reason, permanent=True)
        except DeliveryUnavailable as exc:
            return _Outcome(False, error=exc.reason, hinted=exc.hint)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the queue; kept for retry
            log.exception("outbox delivery failed unexpectedly (%s)", type(exc).__name__)
            return _Outcome(False, error=f"unexpected error: {type(exc).__name__}")
        if delivered is None:  # the type is no longer owned by a backend: nothing to send
            return _Outcome(False, error="no backend owns this resource type any more", permanent=True)
        return _Outcome(True, delivered.backend_id, delivered.profile, found=delivered.found)

    def _record(self, pk: int, holder: str, outcome: _Outcome, done: DeliveryRound) -> None:
        now = self.clock()
        with self.db.transaction() as session:
            outbox = OutboxRepository(session)
            row = outbox.held(pk, holder)
            if row is None:  # our lease expired and another worker owns the row now
                done.lost_leases += 1
                log.warning("outbox row %s: lease lost before its outcome was recorded", pk)
                return
            if outcome.delivered:
                outbox.delivered(row, now, outcome.backend_id, outcome.profile)
                ids = BackendIdRepository(session)
                if outcome.backend_id:
                    ids.put(row.backend, row.resource_type, row.resource_id, outcome.backend_id,
                            outcome.profile, now)
                for (rtype, local_id), backend_id in outcome.found:
                    ids.put(row.backend, rtype, local_id, backend_id, outcome.profile, now)
                done.delivered += 1
                done.lag_seconds.append((row.backend, (now - row.created).total_seconds()))
                return
            retry_at = None if outcome.permanent else self.rules.next_attempt(
                row.attempts + 1, outcome.hinted, row.created, now)
            outbox.failed(row, now, outcome.error[:2000], retry_at)
            if retry_at is None:
                done.dead += 1
                log.warning("outbox row %s to %s dead-lettered after %d tries", pk, row.backend, row.attempts)
            else:
                done.retried += 1
