"""SMART Backend Services: client_credentials authenticated by a signed JWT (private_key_jwt).

May import: joserfc, requests, gateway.store, gateway.auth.*, stdlib. SMART App Launch 2.x
backend-services.md and RFC 7523: the assertion is signed RS384 or ES384 with a key from the
client's registered JWKS; iss = sub = client_id, aud = the token URL, exp at most five minutes
ahead, and a jti never seen before (replays are refused). Keys are registered by value (a
JWKS) or by URL (client-confidential-asymmetric.md: fetched over TLS; loopback http is allowed
for local testing only). A `jku` header must name the registered URL: the server never fetches
a URL the client did not register (no SSRF through the assertion).
"""
from __future__ import annotations

import ipaddress
import json
import time
from datetime import datetime
from urllib.parse import urlsplit

import requests

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.auth.scopes import cap, parse_scopes
from gateway.auth.tokens import AuthError, AuthService, _epoch, unverified_segment
from gateway.store.auth import AuthRepository

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = 300


JWKS_TTL = 300  # seconds a fetched key set is trusted before it is fetched again
JWKS_REFETCH = 10  # at most one early refetch (unknown kid) per URL in this many seconds
JWKS_MAX_BYTES = 256 * 1024


def add_jwks_client(auth: AuthService, name: str, scope: str, role: str, jwks: dict) -> dict:
    KeySet.import_key_set(jwks)  # refuse a malformed JWKS at registration, not at first use
    return auth.add_client(name, scope, role, with_secret=False, jwks=json.dumps(jwks))


def check_jwks_url(url: str) -> None:
    """https, or http on a loopback address (local testing); anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        raise ValueError(f"a JWKS URL must be https:// (http only on loopback), got {url!r}")


def add_jwks_url_client(auth: AuthService, name: str, scope: str, role: str, url: str) -> dict:
    check_jwks_url(url)
    created = auth.add_client(name, scope, role, with_secret=False, jwks=json.dumps({"jwks_uri": url}))
    return dict(created, jwks_uri=url)


class RemoteKeySets:
    """Key sets fetched from registered JWKS URLs, cached per URL in the AuthService's cache."""

    def __init__(self, cache: dict[str, tuple[KeySet, float]]) -> None:
        self._cache = cache

    def get(self, url: str, *, refresh: bool = False) -> KeySet:
        cached = self._cache.get(url)
        now = time.monotonic()
        if cached and now - cached[1] < JWKS_TTL and not (refresh and now - cached[1] > JWKS_REFETCH):
            return cached[0]
        try:
            response = requests.get(url, timeout=5, headers={"Accept": "application/json"}, stream=True)
            body = response.raw.read(JWKS_MAX_BYTES + 1, decode_content=True)
            if response.status_code != 200 or len(body) > JWKS_MAX_BYTES:
                raise ValueError(f"HTTP {response.status_code}")
            keys = KeySet.import_key_set(json.loads(body))
        except (requests.RequestException, ValueError) as exc:
            if cached:  # the URL is down: keep trusting what it served until the TTL runs out
                return cached[0]
            raise AuthError("invalid_client", f"the client's JWKS URL could not be read ({exc})", 401) from None
        self._cache[url] = (keys, now)
        return keys


def _header(assertion: str) -> dict:
    header = unverified_segment(assertion, 0)
    if header is None:
        raise AuthError("invalid_client", "malformed client assertion", 401)
    return header


def _key_set(auth: AuthService, assertion: str, registered: str | None) -> KeySet:
    if not registered:
        raise AuthError("invalid_client", "this client has no registered keys", 401)
    stored = json.loads(registered)
    header = _header(assertion)
    url = stored.get("jwks_uri")
    if url is None:
        if header.get("jku"):
            raise AuthError("invalid_client", "jku given, but this client registered its keys by value", 401)
        return KeySet.import_key_set(stored)
    if header.get("jku") not in (None, url):
        raise AuthError("invalid_client", "jku is not the client's registered JWKS URL", 401)
    remote = RemoteKeySets(auth.jwks_cache)
    keys = remote.get(url)
    if header.get("kid") not in {k.kid for k in keys.keys}:
        keys = remote.get(url, refresh=True)  # the client may have rotated its keys
    return keys


def _claims(auth: AuthService, assertion: str, registered: str | None) -> dict:
    keys = _key_set(auth, assertion, registered)
    try:
        return jwt.decode(assertion, keys, algorithms=["RS384", "ES384"]).claims
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
    claims = _claims(auth, assertion, jwks)
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
    payload = unverified_segment(assertion, 1)
    if payload is None:
        raise AuthError("invalid_client", "malformed client assertion", 401)
    return str(payload.get("iss", ""))


__all__ = ["add_jwks_client", "add_jwks_url_client", "check_jwks_url", "RemoteKeySets",
           "token_with_assertion"]
