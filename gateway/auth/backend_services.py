"""SMART Backend Services: client_credentials authenticated by a signed JWT (private_key_jwt).

May import: joserfc, gateway.store, gateway.auth.*, stdlib. SMART App Launch 2.x
backend-services.md and RFC 7523: the assertion is signed RS384 or ES384 with a key from the
client's registered JWKS; iss = sub = client_id, aud = the token URL, exp at most five minutes
ahead, and a jti never seen before (replays are refused).
"""
from __future__ import annotations

import json
import base64
from datetime import datetime

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.auth.scopes import cap, parse_scopes
from gateway.auth.tokens import AuthError, AuthService, _epoch
from gateway.store.auth import AuthRepository

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = 300


def add_jwks_client(auth: AuthService, name: str, scope: str, role: str, jwks: dict) -> dict:
    KeySet.import_key_set(jwks)  # refuse a malformed JWKS at registration, not at first use
    return auth.add_client(name, scope, role, with_secret=False, jwks=json.dumps(jwks))


def _claims(assertion: str, jwks: str | None) -> dict:
    if not jwks:
        raise AuthError("invalid_client", "this client has no registered keys", 401)
    try:
        return jwt.decode(assertion, KeySet.import_key_set(json.loads(jwks)),
                          algorithms=["RS384", "ES384"]).claims
    except (JoseError, ValueError) as exc:
        raise AuthError("invalid_client", f"client assertion rejected: {type(exc).__name__}", 401) from None


def token_with_assertion(auth: AuthService, form: dict, token_url: str, aud: str) -> dict:
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise AuthError("invalid_client", "client_assertion_type must be jwt-bearer", 401)
    assertion = form.get("client_assertion", "")
    client_id = _unverified_issuer(assertion)
    with auth.db.read() as session:
        client = AuthRepository(session).client(client_id)
        jwks, scope, role = (client.jwks, client.scope, client.role) if client else (None, "", "")
    claims = _claims(assertion, jwks)
    now = _epoch(auth.clock())
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AuthError("invalid_client", "iss and sub must be the client_id", 401)
    if claims.get("aud") != token_url:
        raise AuthError("invalid_client", "aud must be the token endpoint URL", 401)
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + MAX_LIFETIME:
        raise AuthError("invalid_client", "exp must be in the future and at most 5 minutes ahead", 401)
    if not claims.get("jti"):
        raise AuthError("invalid_client", "the assertion needs a jti", 401)
    with auth.db.transaction() as session:
        fresh = AuthRepository(session).use_assertion(str(claims["jti"]), client_id,
                                                      datetime.utcfromtimestamp(exp))
    if not fresh:
        raise AuthError("invalid_client", "this assertion (jti) was already used", 401)
    granted = cap(form.get("scope") or scope, scope)
    if not parse_scopes(granted):
        raise AuthError("invalid_scope", "none of the requested scopes may be granted to this client")
    return auth.issue(client_id, role, granted, aud)


def _unverified_issuer(assertion: str) -> str:
    """The iss claim, read before verification only to find which client's keys to use."""
    try:
        payload = assertion.split(".")[1]
        return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("iss", ""))
    except (IndexError, ValueError):
        raise AuthError("invalid_client", "malformed client assertion", 401) from None


__all__ = ["add_jwks_client", "token_with_assertion"]
