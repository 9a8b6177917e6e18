"""Inbound rate limits: a budget per client on /fhir, a stricter one per address shared by
the OAuth POSTs (token, login form, patient picker, introspection, revocation, launch) against
credential guessing; GETs there (discovery, JWKS, the login page) are free. Webhook POSTs to
/ingest get the /fhir budget per address, checked before the signature: a flood of forged
events is refused with 429 before it costs a security AuditEvent each (a vendor retries a 429).

May import: flask, werkzeug, limits, gateway.auth.access, gateway.api.metrics, gateway.settings,
stdlib. Built per app in create_app (never at import time) directly on the `limits` library
(flask-limiter's own wrapper measured ~185 us per request here, mostly re-resolving and
re-parsing its limits; this check costs ~6 us in memory). The check runs after the token guard,
so an authenticated request is counted against the token's client_id (one budget however many
addresses it comes from) and an anonymous one (auth off, /fhir/metadata) against its address.
A spent budget raises werkzeug's 429, which gateway.api.errors renders (OperationOutcome
`throttled` on /fhir, the OAuth error shape on /oauth); X-RateLimit-Limit/Remaining/Reset go on
every limited response and Retry-After on the 429 only. If the storage (Redis) fails at run
time the request goes through and the failure is logged: a clinic's front desk keeps working.
Budgets are sliding-window counters (two counters per key: cheap on Redis, and no burst of 2x
the limit at a window edge as fixed windows allow).
"""
from __future__ import annotations

import logging
import math
import time

from flask import Blueprint, Flask, Response, g, request
from limits import RateLimitItem, parse_many
from limits.errors import ConfigurationError
from limits.storage import Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from werkzeug.exceptions import TooManyRequests

from gateway.api.metrics import GatewayMetrics
from gateway.auth.access import current_access
from gateway.settings import ConfigError, Settings

log = logging.getLogger("gateway.api.limits")


def limit_storage(settings: Settings) -> Storage:
    """The storage both the inbound limits and the backend budgets count in; a Redis that does
    not answer stops the start-up (the key is named, the password is not)."""
    where = settings.rate_limit_storage.split("@")[-1]
    try:
        storage = storage_from_string(settings.rate_limit_storage)
        reachable = storage.check()
    except (ConfigurationError, ValueError) as exc:
        raise ConfigError(f"rate_limit_storage: unusable ({exc})") from None
    if not reachable:
        raise ConfigError(f"rate_limit_storage: cannot reach {where}")
    return storage


def client_key() -> str:
    access = current_access()
    if access is not None:
        return f"client:{access.client_id}"
    return f"addr:{request.remote_addr or 'unknown'}"


def address_key() -> str:
    return f"addr:{request.remote_addr or 'unknown'}"


class InboundLimits:
    """The two inbound budgets of one app, counted in one storage."""

    def __init__(self, settings: Settings, storage: Storage, metrics: GatewayMetrics,
                 fhir: str, oauth: frozenset[str], ingest: str | None = None) -> None:
        self.strategy = SlidingWindowCounterRateLimiter(storage)
        self.prefix = settings.rate_limit_prefix
        self.budgets = {"fhir": parse_many(settings.rate_limit_default),
                        "oauth": parse_many(settings.rate_limit_token),
                        "ingest": parse_many(settings.rate_limit_default)}
        self.metrics, self.fhir, self.oauth, self.ingest = metrics, fhir, oauth, ingest

    def _scope(self) -> tuple[str, str] | None:
        if request.blueprint == self.fhir:
            return "fhir", client_key()
        if request.blueprint in self.oauth and request.method == "POST":
            return "oauth", address_key()
        if self.ingest is not None and request.blueprint == self.ingest and request.method == "POST":
            return "ingest", address_key()
        return None

    def check(self) -> None:
        """before_request: spend one unit of every limit of the request's budget, or 429."""
        scoped = self._scope()
        if scoped is None:
            return
        scope, key = scoped
        try:
            tightest = None
            for item in self.budgets[scope]:
                allowed = self.strategy.hit(item, self.prefix, scope, key)
                stats = self.strategy.get_window_stats(item, self.prefix, scope, key)
                if tightest is None or not allowed or stats.remaining < tightest[1].remaining:
                    tightest = (item, stats)
                if not allowed:
                    break
        except Exception:  # noqa: BLE001 - the storage failed: fail open, say so in the log
            log.exception("rate-limit storage failed; request let through (%s)", scope)
            return
        g.rate_limit = tightest
        item, stats = tightest
        if not allowed:
            self.metrics.rate_limited.labels(scope).inc()
            raise TooManyRequests(description=str(item))

    @staticmethod
    def headers(response: Response) -> Response:
        """after_request: the tightest limit's headers; Retry-After only on a 429 (RFC 9110 10.2.3)."""
        checked: tuple[RateLimitItem, object] | None = g.get("rate_limit")
        if checked is None:
            return response
        item, stats = checked
        reset = int(math.ceil(stats.reset_time))
        response.headers["X-RateLimit-Limit"] = str(item.amount)
        response.headers["X-RateLimit-Remaining"] = str(max(stats.remaining, 0))
        response.headers["X-RateLimit-Reset"] = str(reset)
        if response.status_code == 429:
            response.headers["Retry-After"] = str(max(1, math.ceil(stats.reset_time - time.time())))
        return response


def init_limits(app: Flask, settings: Settings, metrics: GatewayMetrics,
                fhir: Blueprint, oauth: tuple[Blueprint, ...],
                ingest: Blueprint | None = None) -> InboundLimits | None:
    """Install the limits on `fhir` and the `oauth` blueprints (call after init_auth: the check
    must run after the token guard). None when rate_limit = "off"."""
    if settings.rate_limit == "off":
        return None
    storage = (limit_storage(settings) if not settings.rate_limit_storage.startswith("memory://")
               else storage_from_string(settings.rate_limit_storage))  # Redis: fail at start
    limits = InboundLimits(settings, storage, metrics, fhir.name, frozenset(b.name for b in oauth),
                           ingest.name if ingest is not None else None)
    app.before_request(limits.check)
    app.after_request(limits.headers)
    return limits
