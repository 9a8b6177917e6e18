"""SMART on FHIR authorization: token checking and scope enforcement for the FHIR API.

May import: flask, gateway.errors, gateway.services (audit), gateway.store (via tokens),
gateway.auth.*. `init_auth(app)` installs one guard for every FHIR request: no token or a
bad one is 401 with WWW-Authenticate (RFC 6750 3); a scope that does not cover the
interaction is 403. /fhir/metadata needs no token. With `auth = "off"` (set explicitly) the
guard lets everything through.
The staff administration API (blueprints named `admin_*`, under /admin: the delivery outbox
and its dead letters, the duplicate-patient review queue) takes the same bearer tokens and
needs the integration_admin role (gateway.auth.roles: sync, replay, merge are admin-only).
"""
from __future__ import annotations

from flask import Flask, current_app, request

from gateway.auth.access import Access, set_access
from gateway.auth.tokens import AuthError
from gateway.errors import Unauthorized

ENDPOINT_INTERACTIONS = {
    "fhir.search": "search-type", "fhir.search_post": "search-type", "fhir.create": "create",
    "fhir.read": "read", "fhir.vread": "vread", "fhir.update": "update", "fhir.delete": "delete",
    "fhir.history_type": "history-type", "fhir.history_instance": "history-instance",
}
_OPEN = {"fhir.metadata"}


def fhir_base_url() -> str:
    configured = current_app.extensions["fhir_gateway"].settings.base_url
    return configured.rstrip("/") if configured else request.host_url.rstrip("/") + "/fhir"


def _verified_access(container) -> Access:
    """The Access of the request's bearer token; 401 (RFC 6750 3) when missing or bad."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a Bearer access token is required",
                           headers={"WWW-Authenticate": 'Bearer realm="fhir"'})
    try:
        claims = container.auth.verify(token.strip(), fhir_base_url())
    except AuthError as exc:
        raise Unauthorized(exc.description, headers={
            "WWW-Authenticate": f'Bearer realm="fhir", error="invalid_token", '
                                f'error_description="{exc.description}"'}) from None
    return Access.of(claims.client_id, claims.role, claims.scope, claims.patient, claims.user,
                     claims.fhir_user)


def _guard() -> None:
    blueprint = request.blueprint or ""
    if blueprint.startswith("admin_"):
        _guard_admin()
        return
    if blueprint != "fhir":
        return
    container = current_app.extensions["fhir_gateway"]
    set_access(None)
    if container.settings.auth == "off" or request.endpoint in _OPEN:
        return
    access = _verified_access(container)
    set_access(access)
    rtype = (request.view_args or {}).get("rtype")
    interaction = ENDPOINT_INTERACTIONS.get(request.endpoint or "")
    if rtype and interaction:
        access.authorize(rtype, interaction, (request.view_args or {}).get("rid"))


def _guard_admin() -> None:
    container = current_app.extensions["fhir_gateway"]
    set_access(None)
    if container.settings.auth == "off":
        return
    access = _verified_access(container)
    access.require_role("integration_admin")
    set_access(access)


def init_auth(app: Flask) -> None:
    app.before_request(_guard)
