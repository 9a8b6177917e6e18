"""Inbound rate limits (flask-limiter): a budget per client on /fhir, a stricter one per
address shared by the OAuth POSTs (token, login form, patient picker, introspection, revocation,
launch) against credential guessing; GETs there (discovery, JWKS, the login page) are free.

May import: flask, flask_limiter, limits, gateway.auth.access, gateway.api.metrics,
gateway.settings, stdlib. The Limiter is built per app in create_app (never at import time).
Its check runs after the token guard, so an authenticated request is counted against the
token's client_id (one budget however many addresses it comes from) and an anonymous one
(auth off, /fhir/metadata) against its address. A spent budget raises flask-limiter's
RateLimitExceeded, a werkzeug 429 that gateway.api.errors renders (OperationOutcome `throttled`
on /fhir, the OAuth error shape on /oauth); X-RateLimit-Limit/Remaining/Reset go on every
limited response and Retry-After on the 429. If the storage (Redis) fails at run time the
request goes through and the failure is logged: a clinic's front desk keeps working.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, request
from flask_limiter import Limiter
from limits.errors import ConfigurationError
from limits.storage import Storage, storage_from_string

from gateway.api.metrics import GatewayMetrics
from gateway.auth.access import current_access
from gateway.settings import ConfigError, Settings

log = logging.getLogger("gateway.api.limits")

# Inbound budgets: sliding-window counters (two counters per key: cheap on Redis, and no burst
# of 2x the limit at a window edge as fixed windows allow).
STRATEGY = "sliding-window-counter"


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


def init_limits(app: Flask, settings: Settings, metrics: GatewayMetrics,
                fhir: Blueprint, oauth: tuple[Blueprint, ...]) -> Limiter | None:
    """Install the limits on `fhir` and the `oauth` blueprints (call after init_auth: the check
    must run after the token guard). None when rate_limit = "off"."""
    if settings.rate_limit == "off":
        return None
    if not settings.rate_limit_storage.startswith("memory://"):
        limit_storage(settings)  # fail at start, not on the first request

    def breached(scope: str):
        return lambda _limit: metrics.rate_limited.labels(scope).inc()

    limiter = Limiter(client_key, storage_uri=settings.rate_limit_storage, strategy=STRATEGY,
                      headers_enabled=True, key_prefix=settings.rate_limit_prefix,
                      swallow_errors=True)
    limiter.shared_limit(settings.rate_limit_default, scope="fhir", key_func=client_key,
                         on_breach=breached("fhir"))(fhir)
    for blueprint in oauth:
        limiter.shared_limit(settings.rate_limit_token, scope="oauth", key_func=address_key,
                             exempt_when=lambda: request.method != "POST",
                             on_breach=breached("oauth"))(blueprint)

    @app.after_request
    def _retry_after_only_when_refused(response: Response) -> Response:
        # Registered before init_app, so it runs after flask-limiter's header hook, which puts
        # Retry-After on every limited response; RFC 9110 10.2.3 gives it meaning on 429/503.
        if response.status_code == 429:
            seconds = response.headers.get("Retry-After", "1")
            response.headers["Retry-After"] = str(max(1, int(seconds) if seconds.isdigit() else 1))
        elif response.status_code != 503:
            response.headers.pop("Retry-After", None)
        return response

    limiter.init_app(app)
    return limiter
