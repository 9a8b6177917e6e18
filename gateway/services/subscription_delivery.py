"""The service side of sending notifications: a Subscription's delivery target, the payload of
a notified version, and what each attempt leaves behind (AuditEvent, health, status).

May import: gateway.store, gateway.services.*, gateway.errors, stdlib. The notifier
(gateway.sync.notifier) calls these with its own session, so the attempt's record, its
AuditEvent and a status change commit together. R4 subscription.html: a Subscription whose
deliveries keep failing goes to status `error` with `error` saying why (HAPI does this too),
and back to `active` on the next success. Texts hold HTTP statuses and exception classes only.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from gateway.errors import FhirError
from gateway.services import audit
from gateway.services.audit import Agent
from gateway.services.interactions import Interactions
from gateway.store.notifications import Claimed, NotificationRepository
from gateway.store.resources import ResourceRepository
from gateway.transports.webhook import Sent

log = logging.getLogger("gateway.services.subscription_delivery")


@dataclass(frozen=True)
class Target:
    """Where and how one Subscription is notified (read when each notification is sent, so
    an endpoint or header changed since the write applies)."""

    subscription_id: str
    endpoint: str
    headers: tuple[tuple[str, str], ...]
    payload: str | None  # a MIME type, or None: a POST without a body

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).hostname or "?"


class SubscriptionDeliveries:
    def __init__(self, error_after: int = 3) -> None:
        self.error_after = error_after  # consecutive failed attempts that put it in error

    def target(self, session, subscription_id: str) -> Target | None:
        """The Subscription's channel, or None when it is deleted, off or unusable."""
        stored = ResourceRepository(session).current("Subscription", subscription_id)
        if stored is None or stored.deleted:
            return None
        body = json.loads(stored.content)
        channel = body.get("channel", {})
        if body.get("status") not in ("active", "error") or not channel.get("endpoint"):
            return None
        headers = tuple((name.strip(), value.strip()) for name, _, value in
                        (h.partition(":") for h in channel.get("header", [])))
        return Target(subscription_id, channel["endpoint"], headers, channel.get("payload"))

    def body(self, session, resource_type: str, resource_id: str, version_id: int) -> str | None:
        """The notified version's JSON (None for a deletion)."""
        stored = ResourceRepository(session).version(resource_type, resource_id, version_id)
        return stored.content if stored is not None else None

    def attempted(self, session, claimed: Claimed, method: str, sent: Sent, target: Target,
                  now: datetime, content: str | None) -> None:
        """Audit an attempt that carried PHI, count it, and move the Subscription's status."""
        if target.payload is not None:
            self._audit(session, claimed, method, sent, target, now, content)
        failures = NotificationRepository(session).record_attempt(
            claimed.subscription_id, now, sent.ok, sent.error)
        if sent.ok:
            self._set_status(session, claimed.subscription_id, "active", None, now)
        elif failures >= self.error_after:
            self._set_status(session, claimed.subscription_id, "error",
                             f"{failures} consecutive delivery failures; last: {sent.error}", now)

    @staticmethod
    def _audit(session, claimed: Claimed, method: str, sent: Sent, target: Target, now: datetime,
               content: str | None) -> None:
        # DICOM 110106 Export: PHI left the gateway for the subscriber's endpoint (a failed
        # attempt too: the endpoint may have read it before failing).
        reference = f"{claimed.resource_type}/{claimed.resource_id}"
        resources = [json.loads(content)] if content else []
        status = 200 if sent.ok else (sent.status if sent.status and sent.status >= 400 else 503)
        audit.record(session, Agent(client_id=f"Subscription/{claimed.subscription_id}",
                                    role="rest-hook", address=target.host),
                     "transmit", status, now, resources, extra_refs=[] if content else [reference],
                     description=f"rest-hook {method} {reference}/_history/{claimed.version_id} "
                                 f"to {target.host}: {'delivered' if sent.ok else sent.error}")

    @staticmethod
    def _set_status(session, subscription_id: str, status: str, error: str | None,
                    now: datetime) -> None:
        ops = Interactions(session, now, "")
        stored = ops.repo.current("Subscription", subscription_id)
        if stored is None or stored.deleted:
            return
        body = {k: v for k, v in json.loads(stored.content).items() if k not in ("meta", "error")}
        # Only transitions write a version (not every failure while in error); a Subscription
        # turned off since the send keeps the client's word.
        if body.get("status") not in ("active", "error") or body["status"] == status:
            return
        body["status"] = status
        if error:
            body["error"] = error
        try:
            with session.begin_nested():  # a client's concurrent update wins; we try next time
                ops.update(body, subscription_id, stored.version_id)
        except FhirError as exc:
            log.warning("Subscription/%s status not changed to %s: %s", subscription_id, status,
                        type(exc).__name__)
