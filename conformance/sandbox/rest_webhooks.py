"""The sandbox REST EHR's webhooks: subscriptions, signed thin events, delivery in order with
retries and backoff, the way a real vendor's webhook sender behaves.

May import: stdlib only. Each subscription (URL + shared secret) has its own queue and sender
thread: events are delivered one at a time, in the order the changes happened. A delivery
that fails (no 2xx, refused connection, timeout) is retried after a backoff that doubles from
`retry_base` up to `retry_max` seconds; the queue behind it waits (order is kept). A 4xx other
than 408/429 is the receiver refusing that event: it is retried `client_error_attempts` times,
then set aside as failed so later events are not held forever; anything else is retried up to
`max_attempts` times. Each attempt is signed anew (the timestamp is the attempt's), as Stripe
does: `X-Sandbox-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
Event body: {"id", "type", "occurred_at", "resource": {"type", "id"}, "origin": {"client_id"}}
where origin.client_id is the API client that made the change (null for staff edits).
"""
from __future__ import annotations

import collections
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone

SIGNATURE_HEADER = "X-Sandbox-Signature"
KINDS = {"patients": "patient", "appointments": "appointment"}
_SETTINGS = {"retry_base": (float, 0.5, 0.01, 60.0), "retry_max": (float, 30.0, 0.01, 3600.0),
             "max_attempts": (int, 20, 1, 1000), "client_error_attempts": (int, 3, 1, 100),
             "timeout": (float, 5.0, 0.1, 60.0)}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event_type(table: str, before: dict | None, after: dict | None) -> str:
    """The event a change of one record is: patient.created/updated/deleted, and for
    appointments booked, cancelled (status moved to cancelled), updated, deleted."""
    kind = KINDS[table]
    if after is None:
        return f"{kind}.deleted"
    if before is None:
        return "appointment.booked" if kind == "appointment" else "patient.created"
    if kind == "appointment" and after.get("status") == "cancelled" != before.get("status"):
        return "appointment.cancelled"
    return f"{kind}.updated"


@dataclass
class Subscription:
    id: str
    url: str
    secret: str = field(repr=False)
    types: tuple[str, ...] | None
    settings: dict
    queue: collections.deque = field(default_factory=collections.deque)
    delivered: int = 0
    attempts: int = 0
    failed: list = field(default_factory=list)
    log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=500))
    wake: threading.Condition = field(default_factory=threading.Condition)
    stopped: bool = False
    thread: threading.Thread | None = None

    def to_json(self) -> dict:
        with self.wake:
            return {"id": self.id, "url": self.url, "types": list(self.types) if self.types else None,
                    **self.settings, "pending": len(self.queue), "delivered": self.delivered,
                    "attempts": self.attempts, "failed": list(self.failed)}


def _check(body: object) -> tuple[str, str, tuple[str, ...] | None, dict]:
    """(url, secret, types, settings) from a subscription request; ValueError names the problem."""
    if not isinstance(body, dict) or set(body) - {"url", "secret", "types", *_SETTINGS}:
        raise ValueError("body must be an object with url, secret and optionally types, "
                         + ", ".join(_SETTINGS))
    url, secret, types = body.get("url"), body.get("secret"), body.get("types")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError("url must be an http(s) URL")
    if not isinstance(secret, str) or len(secret) < 16:
        raise ValueError("secret must be a string of at least 16 characters")
    if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) for t in types)):
        raise ValueError("types must be a list of event types")
    settings = {}
    for key, (kind, default, low, high) in _SETTINGS.items():
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
                or (kind is int and not isinstance(value, int)):
            raise ValueError(f"{key} must be a number from {low} to {high}")
        settings[key] = kind(value)
    return url, secret, tuple(types) if types is not None else None, settings


class WebhookDispatcher:
    """The subscriptions of one sandbox and their sender threads."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, Subscription] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def subscribe(self, body: object) -> Subscription:
        url, secret, types, settings = _check(body)
        subscription = Subscription(f"wh-{next(self._ids)}", url, secret, types, settings)
        subscription.thread = threading.Thread(target=self._run, args=(subscription,), daemon=True,
                                               name=f"sandbox-webhook-{subscription.id}")
        with self._lock:
            self._subscriptions[subscription.id] = subscription
        subscription.thread.start()
        return subscription

    def get(self, subscription_id: str) -> Subscription | None:
        with self._lock:
            return self._subscriptions.get(subscription_id)

    def all(self) -> list[Subscription]:
        with self._lock:
            return list(self._subscriptions.values())

    def unsubscribe(self, subscription_id: str) -> bool:
        with self._lock:
            subscription = self._subscriptions.pop(subscription_id, None)
        if subscription is not None:
            self._stop(subscription)
        return subscription is not None

    def publish(self, table: str, before: dict | None, after: dict | None, origin: str | None) -> dict:
        """Queue the event for one changed record at every subscription that wants its type."""
        record = after or before
        event = {"id": f"evt_{secrets.token_hex(12)}", "type": event_type(table, before, after),
                 "occurred_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                 "resource": {"type": KINDS[table], "id": record["id"]}, "origin": {"client_id": origin}}
        for subscription in self.all():
            if subscription.types is None or event["type"] in subscription.types:
                with subscription.wake:
                    subscription.queue.append(event)
                    subscription.wake.notify()
        return event

    def stop(self) -> None:
        with self._lock:
            subscriptions, self._subscriptions = list(self._subscriptions.values()), {}
        for subscription in subscriptions:
            self._stop(subscription)

    @staticmethod
    def _stop(subscription: Subscription) -> None:
        with subscription.wake:
            subscription.stopped = True
            subscription.wake.notify()
        if subscription.thread is not None and subscription.thread is not threading.current_thread():
            subscription.thread.join(timeout=5)

    def _run(self, sub: Subscription) -> None:
        failures = 0
        while True:
            with sub.wake:
                while not sub.queue and not sub.stopped:
                    sub.wake.wait()
                if sub.stopped:
                    return
                event = sub.queue[0]
            status = _deliver(sub, event)
            with sub.wake:
                sub.attempts += 1
                sub.log.append({"event_id": event["id"], "type": event["type"], "status": status,
                                "attempt": failures + 1, "time": time.time()})
                failures = 0 if status is not None and 200 <= status < 300 else failures + 1
                client_error = status is not None and 400 <= status < 500 and status not in (408, 429)
                limit = sub.settings["client_error_attempts" if client_error else "max_attempts"]
                if failures == 0 or failures >= limit:
                    sub.queue.popleft()
                    if failures:
                        sub.failed.append({"event_id": event["id"], "type": event["type"],
                                           "attempts": failures, "last_status": status})
                    else:
                        sub.delivered += 1
                    failures = 0
                    continue
                delay = min(sub.settings["retry_max"], sub.settings["retry_base"] * 2 ** (failures - 1))
                sub.wake.wait_for(lambda: sub.stopped, timeout=delay)


def _deliver(sub: Subscription, event: dict) -> int | None:
    """One attempt: the HTTP status, or None when no answer came (refused, timed out)."""
    body = json.dumps(event, separators=(",", ":")).encode()
    request = urllib.request.Request(sub.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "sandbox-rest-ehr-webhooks/1",
        SIGNATURE_HEADER: sign(sub.secret, int(time.time()), body)})
    try:
        with urllib.request.urlopen(request, timeout=sub.settings["timeout"]) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code
    except (OSError, ValueError):
        return None
