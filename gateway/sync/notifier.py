"""The subscription notifier: claims due notifications with a lease, sends them, retries with
backoff, dead-letters what cannot be delivered.

May import: stdlib, gateway.store, gateway.transports, gateway.sync.backoff. The service side
(where a Subscription sends, the notified version's JSON, the AuditEvent and status changes of
an attempt) is injected as `port` (gateway.services.subscription_delivery), so this module stays
below the services layer. R4 subscription.html rest-hook: without a payload, a POST with no
body to the endpoint; with `application/fhir+json`, a PUT of the version to
`{endpoint}/{type}/{id}` (a DELETE there for a deletion, as HAPI does); channel.header entries
go along. Any 2xx is delivered. Several notifiers share the queue safely: a row is claimed with
one conditional UPDATE (gateway.store.notifications). Logs carry ids and error classes only.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol
from urllib.parse import urlsplit, urlunsplit

from gateway.store.db import Database
from gateway.store.notifications import Claimed, NotificationRepository
from gateway.sync.backoff import RetryPolicy
from gateway.transports.webhook import Sent

log = logging.getLogger("gateway.sync.notifier")
OUTCOMES = ("delivered", "failed", "dead", "cancelled")  # failed: another try is scheduled


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Target(Protocol):
    subscription_id: str
    endpoint: str
    headers: tuple[tuple[str, str], ...]
    payload: str | None


class Port(Protocol):
    def target(self, session, subscription_id: str) -> Target | None: ...
    def body(self, session, resource_type: str, resource_id: str, version_id: int) -> str | None: ...
    def attempted(self, session, claimed: Claimed, method: str, sent: Sent, target: Target,
                  now: datetime, content: str | None) -> None: ...


class Sender(Protocol):
    def send(self, method: str, url: str, headers, body: bytes | None) -> Sent: ...


def request_for(target: Target, claimed: Claimed, content: str | None) -> tuple[str, str, dict, bytes | None]:
    """(method, url, headers, body) of one notification (R4 subscription.html#2.46.7.1)."""
    headers = dict(target.headers)
    if target.payload is None:
        return "POST", target.endpoint, headers, None
    parts = urlsplit(target.endpoint)
    url = urlunsplit(parts._replace(
        path=f"{parts.path.rstrip('/')}/{claimed.resource_type}/{claimed.resource_id}"))
    if claimed.interaction == "delete" or content is None:
        return "DELETE", url, headers, None
    headers["Content-Type"] = target.payload
    return "PUT", url, headers, content.encode("utf-8")


@dataclass(frozen=True)
class PassResult:
    claimed: int
    outcomes: dict[str, int]

    @property
    def ok(self) -> bool:
        return not (self.outcomes.get("failed") or self.outcomes.get("dead"))


@dataclass
class Notifier:
    db: Database
    port: Port
    sender: Sender
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy(30, 3600, 8))
    max_age: timedelta | None = timedelta(hours=24)
    clock: Callable[[], datetime] = _utc_now
    rng: random.Random = field(default_factory=random.Random)
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    batch: int = 20
    lease: timedelta = timedelta(minutes=5)  # far longer than one send (3 s + 10 s timeouts)
    on_outcome: Callable[[str], None] = lambda _outcome: None

    def run_once(self, stop: threading.Event | None = None) -> PassResult:
        """Send everything due now: batch after batch until a batch finds nothing (the next
        version of a resource becomes due once the one before it was sent) or `stop` is set."""
        claimed, outcomes = 0, Counter()
        while stop is None or not stop.is_set():
            batch = self._batch()
            if not batch.claimed:
                break
            claimed += batch.claimed
            outcomes.update(batch.outcomes)
        return PassResult(claimed, dict(outcomes))

    def _batch(self) -> PassResult:
        """Claim what is due (up to `batch`), send each, record each outcome."""
        now = self.clock()
        with self.db.transaction() as session:
            repo = NotificationRepository(session)
            claimed = [c for c in (repo.claim(pk, self.holder, now, now + self.lease)
                                   for pk in repo.due(now, self.batch)) if c is not None]
        outcomes: Counter = Counter()
        for item in claimed:
            outcome = self._deliver(item)
            outcomes[outcome] += 1
            self.on_outcome(outcome)
        return PassResult(len(claimed), dict(outcomes))

    def serve(self, stop: threading.Event, interval: float = 2.0) -> None:
        """Pass after pass until `stop`, `interval` seconds apart; a database failure is logged
        and retried at the next interval."""
        while not stop.is_set():
            try:
                self.run_once(stop)
            except Exception as exc:  # the store is down: say so without PHI, keep going
                log.error("notifier pass failed: %s", type(exc).__name__)
            stop.wait(interval)

    def _deliver(self, claimed: Claimed) -> str:
        with self.db.read() as session:
            target = self.port.target(session, claimed.subscription_id)
            content = None
            if target is not None and target.payload is not None and claimed.interaction != "delete":
                content = self.port.body(session, claimed.resource_type, claimed.resource_id,
                                         claimed.version_id)
        if target is None:  # deleted or off since: it owes nothing any more
            self._finish(claimed, "cancelled", "subscription off or deleted", counted=False)
            return "cancelled"
        method, url, headers, body = request_for(target, claimed, content)
        sent = self.sender.send(method, url, headers, body)
        now = self.clock()
        outcome, next_at = self._outcome(claimed, sent, now)
        with self.db.transaction() as session:
            kept = NotificationRepository(session).finish(
                claimed.pk, self.holder, now, status="pending" if outcome == "failed" else outcome,
                error=sent.error, next_attempt_at=next_at)
            if kept:
                self.port.attempted(session, claimed, method, sent, target, now, content)
        if not kept:
            log.warning("notification %s outlived its lease; its outcome was not recorded", claimed.pk)
        elif not sent.ok:
            log.warning("notification %s for Subscription/%s: attempt %d failed (%s)%s", claimed.pk,
                        claimed.subscription_id, claimed.attempts + 1, sent.error,
                        "; dead-lettered" if outcome == "dead" else "")
        return outcome

    def _outcome(self, claimed: Claimed, sent: Sent, now: datetime) -> tuple[str, datetime | None]:
        if sent.ok:
            return "delivered", None
        attempt = claimed.attempts + 1
        too_old = self.max_age is not None and now - claimed.created >= self.max_age
        if self.policy.exhausted(attempt) or too_old:
            return "dead", None
        wait = self.policy.retry_after(attempt, sent.retry_after, self.rng)
        return "failed", now + timedelta(seconds=wait)

    def _finish(self, claimed: Claimed, status: str, error: str, counted: bool) -> None:
        with self.db.transaction() as session:
            NotificationRepository(session).finish(claimed.pk, self.holder, self.clock(),
                                                   status=status, error=error, counted=counted)
