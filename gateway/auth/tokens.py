"""AuthService: clients, RS256-signed JWT access tokens and OpenID id_tokens, verification,
introspection, revocation, signing-key rotation.

May import: joserfc, gateway.store, gateway.auth.*, stdlib. Tokens (RFC 9068 JWT profile):
iss, sub, aud (the FHIR base), client_id, scope, role, jti, iat, exp, and patient and fhirUser
when in context. An id_token's aud is the client, so it can never pass as an access token. Signing keys live in the store; the newest signs, every stored key verifies, so a
rotation never invalidates tokens already handed out. Parsed keys are cached per service.
"""
from __future__ import annotations

import base64
import calendar
import hashlib
import json
import hmac
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from gateway.auth.roles import ceiling
from gateway.auth.scopes import cap, parse_scopes
from gateway.store.auth import AuthRepository
from gateway.store.models import OAuthClientRow

TOKEN_LIFETIME = 3600
KEY_CACHE_SECONDS = 300


class AuthError(Exception):
    """An OAuth error (RFC 6749 5.2): `error` code, description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _epoch(moment: datetime) -> int:
    return calendar.timegm(moment.utctimetuple())  # the clock is naive UTC


def unverified_segment(token: str, index: int) -> dict | None:
    """A JWT's header (0) or payload (1) as JSON, NOT verified: only for choosing keys, naming
    a refused caller, or reading a token this process has just signed. None when malformed."""
    try:
        part = token.split(".")[index]
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _kid(token: str) -> str | None:
    """The kid in a JWT's header (None when there is none or the header is not JSON)."""
    return (unverified_segment(token, 0) or {}).get("kid")


def _claims(c: dict) -> Claims:
    return Claims(c["client_id"], c.get("role", ""), c.get("scope", ""), c["jti"], c["exp"],
                  c.get("patient"), c.get("sub") if c.get("sub") != c["client_id"] else None,
                  c.get("fhirUser"), c.get("iss", ""))


def issued_claims(token: str) -> Claims:
    """The claims of an access token this process has just issued (read, not verified: it
    has not left the process), e.g. for the token endpoint's audit record."""
    return _claims(unverified_segment(token, 1) or {})


def hash_secret(secret: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _scheme, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    return hmac.compare_digest(candidate.hex(), digest)


@dataclass(frozen=True)
class _Client:
    client_id: str
    secret_hash: str | None
    scope: str
    role: str


@dataclass(frozen=True)
class Claims:
    client_id: str
    role: str
    scope: str
    jti: str
    exp: int
    patient: str | None = None
    user: str | None = None
    fhir_user: str | None = None
    iss: str = ""


class AuthService:
    def __init__(self, db, clock) -> None:
        self.db, self.clock = db, clock
        self._keys: KeySet | None = None
        self._signing: RSAKey | None = None
        self._loaded_at = 0.0
        # key sets fetched from clients' registered JWKS URLs (gateway.auth.backend_services)
        self.jwks_cache: dict[str, tuple] = {}
        self._verified: dict[tuple[str, str], tuple] = {}  # (token, aud) -> (claims, kid): verify

    # -- keys ------------------------------------------------------------------------------
    def _load_keys(self) -> None:
        with self.db.transaction() as session:
            repo = AuthRepository(session)
            rows = repo.keys()
            if not rows:
                key = RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex[:16], "alg": "RS256", "use": "sig"})
                repo.add_key(key.kid, key.as_pem(private=True).decode(), self.clock())
                rows = repo.keys()
        keys = [RSAKey.import_key(r.private_pem, parameters={"kid": r.kid, "alg": "RS256", "use": "sig"})
                for r in rows]
        self._keys, self._signing = KeySet(keys), keys[0]
        self._loaded_at = time.monotonic()

    def _fresh_keys(self) -> KeySet:
        """The key set, re-read from the store every KEY_CACHE_SECONDS so that every worker
        process follows a rotation made elsewhere (CLI, another worker)."""
        if self._keys is None or time.monotonic() - self._loaded_at > KEY_CACHE_SECONDS:
            self._load_keys()
        return self._keys

    def _knows_kid(self, token: str) -> bool:
        if unverified_segment(token, 0) is None:
            return True  # malformed: let the decoder refuse it
        return _kid(token) in {k.kid for k in self._keys.keys}

    def rotate_key(self) -> str:
        key = RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex[:16], "alg": "RS256", "use": "sig"})
        with self.db.transaction() as session:
            AuthRepository(session).add_key(key.kid, key.as_pem(private=True).decode(), self.clock())
        self._keys = self._signing = None  # reload: the new key signs from now on
        return key.kid

    def list_keys(self) -> list[dict]:
        """The stored signing keys, newest (the one that signs) first."""
        self._fresh_keys()  # the first key is made on first use, as for the JWKS
        with self.db.read() as session:
            rows = AuthRepository(session).keys()
            return [{"kid": r.kid, "created": r.created.isoformat() + "Z", "signing": i == 0}
                    for i, r in enumerate(rows)]

    def retire_keys(self) -> list[str]:
        """Drop keys replaced more than a token lifetime ago: no unexpired token (access or
        id_token, both at most TOKEN_LIFETIME) can carry their kid any more."""
        cutoff = self.clock() - timedelta(seconds=TOKEN_LIFETIME)
        with self.db.transaction() as session:
            repo = AuthRepository(session)
            rows = repo.keys()
            retired = [older.kid for newer, older in zip(rows, rows[1:]) if newer.created < cutoff]
            repo.drop_keys(retired)
        self._keys = None
        return retired

    def ticket_secret(self) -> bytes:
        """A server secret for short-lived signed login tickets (derived from the signing key)."""
        if self._signing is None:
            self._load_keys()
        return hashlib.sha256(b"login-ticket:" + self._signing.as_pem(private=True)).digest()

    def jwks(self) -> dict:
        self._fresh_keys()
        return {"keys": [k.as_dict(private=False) for k in self._keys.keys]}

    # -- clients ---------------------------------------------------------------------------
    def add_client(self, name: str, scope: str, role: str, *, with_secret: bool = True,
                   redirect_uris: list[str] = (), jwks: str | None = None) -> dict:
        """Register a client: confidential with a secret (default), public with redirect URIs,
        or asymmetric with a JWKS. Its scopes are capped by its role."""
        granted = cap(scope, ceiling(role))
        if not parse_scopes(granted):
            raise ValueError(f"none of the scopes {scope!r} is allowed for role {role}")
        client_id, secret = f"{name}-{secrets.token_hex(6)}", secrets.token_urlsafe(32) if with_secret else None
        with self.db.transaction() as session:
            AuthRepository(session).add_client(OAuthClientRow(
                client_id=client_id, name=name, secret_hash=hash_secret(secret) if secret else None,
                scope=granted, role=role, created=self.clock(), redirect_uris=" ".join(redirect_uris),
                public=bool(redirect_uris) and not secret and not jwks, jwks=jwks))
        out = {"client_id": client_id, "scope": granted, "role": role}
        if secret:
            out["client_secret"] = secret
        if redirect_uris:
            out["redirect_uris"] = list(redirect_uris)
        return out

    def authenticate_client(self, client_id: str, secret: str) -> None:
        client = self._client(client_id)
        if client is None or not check_secret(secret, client.secret_hash):
            raise AuthError("invalid_client", "client authentication failed", 401)

    def _client(self, client_id: str) -> _Client | None:
        with self.db.read() as session:
            row = AuthRepository(session).client(client_id)
            return None if row is None else _Client(row.client_id, row.secret_hash, row.scope, row.role)

    # -- tokens ----------------------------------------------------------------------------
    def client_credentials(self, client_id: str, secret: str, requested: str | None, aud: str) -> dict:
        """RFC 6749 4.4 / SMART backend services with a symmetric secret."""
        client = self._client(client_id)
        if client is None or not check_secret(secret, client.secret_hash):
            raise AuthError("invalid_client", "client authentication failed", 401)
        try:
            granted = cap(requested or client.scope, client.scope)
        except ValueError as exc:
            raise AuthError("invalid_scope", str(exc)) from None
        if not parse_scopes(granted):
            raise AuthError("invalid_scope", "none of the requested scopes may be granted to this client")
        return self.issue(client.client_id, client.role, granted, aud)

    def issue(self, client_id: str, role: str, scope: str, aud: str, *, patient: str | None = None,
              user: str | None = None, fhir_user: str | None = None,
              lifetime: int = TOKEN_LIFETIME) -> dict:
        self._fresh_keys()
        now = _epoch(self.clock())
        claims = {"iss": aud, "sub": user or client_id, "aud": aud, "client_id": client_id,
                  "scope": scope, "role": role, "jti": uuid.uuid4().hex, "iat": now, "exp": now + lifetime}
        if patient:
            claims["patient"] = patient
        if fhir_user:
            claims["fhirUser"] = fhir_user
        token = jwt.encode({"alg": "RS256", "kid": self._signing.kid, "typ": "at+jwt"}, claims, self._signing)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": scope}
        if patient:
            body["patient"] = patient
        return body

    def id_token(self, client_id: str, username: str, issuer: str, *, nonce: str | None = None,
                 fhir_user: str | None = None, lifetime: int = TOKEN_LIFETIME) -> str:
        """An OpenID Connect id_token (OIDC Core 2; SMART App Launch 2.x worked example):
        RS256 with `kid`, iss = the discovery issuer (the FHIR base), sub = the staff user,
        aud = the client, nonce echoed, fhirUser when asked for."""
        self._fresh_keys()
        now = _epoch(self.clock())
        claims = {"iss": issuer, "sub": username, "aud": client_id, "iat": now, "exp": now + lifetime,
                  "auth_time": now}
        if nonce:
            claims["nonce"] = nonce
        if fhir_user:
            claims["fhirUser"] = fhir_user
        return jwt.encode({"alg": "RS256", "kid": self._signing.kid, "typ": "JWT"}, claims, self._signing)

    def verify(self, token: str, aud: str) -> Claims:
        """Claims of a valid token; AuthError('invalid_token') for anything else.

        A token whose signature and audience were verified once is remembered until it
        expires (the RS256 check and JWT parsing were ~230 of ~300 us per request); expiry
        and revocation are still checked on every call, so a revoked token stops at once.
        """
        remembered = self._verified.get((token, aud))
        keys = self._fresh_keys()
        if remembered is None or remembered[1] not in {k.kid for k in keys.keys}:
            # first sight, or its signing key was retired since: verify it in full
            self._verified.pop((token, aud), None)
            claims = self._verify_signed(token, aud)
            if len(self._verified) >= 4096:
                self._verified.pop(next(iter(self._verified), None), None)  # oldest first (thread-safe)
            self._verified[(token, aud)] = (claims, _kid(token))
        else:
            claims = remembered[0]
        if claims.exp <= _epoch(self.clock()):
            raise AuthError("invalid_token", "token expired", 401)
        with self.db.direct() as direct:  # a bare connection: ~10 us instead of ~170
            if direct.is_revoked(claims.jti):
                raise AuthError("invalid_token", "token revoked", 401)
        return claims

    def _verify_signed(self, token: str, aud: str) -> Claims:
        self._fresh_keys()
        if not self._knows_kid(token) and time.monotonic() - self._loaded_at > 5:
            # signed by a key rotated in since this process last looked; at most every 5 s,
            # so tokens with made-up kids cannot make every request re-read the keys
            self._load_keys()
        try:
            decoded = jwt.decode(token, self._keys, algorithms=["RS256"])
        except (JoseError, ValueError) as exc:
            raise AuthError("invalid_token", f"token rejected: {type(exc).__name__}", 401) from None
        c = decoded.claims
        now = _epoch(self.clock())
        if c.get("aud") != aud:
            raise AuthError("invalid_token", "token audience is not this server", 401)
        if not isinstance(c.get("exp"), int) or c["exp"] <= now:
            raise AuthError("invalid_token", "token expired", 401)
        return _claims(c)

    def introspect(self, token: str, aud: str) -> dict:
        """RFC 7662: an invalid, expired or revoked token answers exactly {"active": false}."""
        try:
            claims = self.verify(token, aud)
        except AuthError:
            return {"active": False}
        out = {"active": True, "scope": claims.scope, "client_id": claims.client_id,
               "exp": claims.exp, "token_type": "Bearer", "sub": claims.user or claims.client_id,
               "iss": claims.iss}
        if claims.patient:
            out["patient"] = claims.patient
        if claims.fhir_user:
            out["fhirUser"] = claims.fhir_user
        return out

    def revoke(self, token: str, aud: str) -> None:
        """RFC 7009: revoking an unknown or invalid token is not an error."""
        try:
            claims = self.verify(token, aud)
        except AuthError:
            return
        with self.db.transaction() as session:
            AuthRepository(session).revoke(claims.jti, datetime.utcfromtimestamp(claims.exp))


__all__ = ["AuthService", "AuthError", "Claims", "timedelta"]
