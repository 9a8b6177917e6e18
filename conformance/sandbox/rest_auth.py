"""OAuth 2.0 client credentials for the sandbox REST EHR: client authentication, bearer
tokens, and the per-client rate limit.

May import: stdlib only. RFC 6749 sections 2.3.1 (client_secret_basic / client_secret_post),
4.4 (client credentials grant), 5.1-5.2 (token and error responses); RFC 6750 (bearer use).
"""
from __future__ import annotations

import base64
import hmac
import math
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote


@dataclass
class RestConfig:
    """Settings of one REST sandbox; changeable at run time through /_sandbox/config."""

    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    token_ttl: int = 3600
    rate_limit: int | None = 600  # requests per window per client; None = unlimited
    rate_window: float = 60.0


class TokenError(Exception):
    """An RFC 6749 section 5.2 error: status, error code, description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def client_from_request(authorization: str | None, form: dict) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic or the form body, never both (RFC 6749 2.3)."""
    in_form = "client_id" in form or "client_secret" in form
    if authorization and authorization.lower().startswith("basic "):
        if in_form:
            raise TokenError(400, "invalid_request", "use one client authentication method")
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            client_id, secret = decoded.split(":", 1)
        except (ValueError, UnicodeDecodeError):
            raise TokenError(401, "invalid_client", "malformed Basic credentials") from None
        # RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
        return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
    if in_form:
        return form.get("client_id", ""), form.get("client_secret", "")
    raise TokenError(401, "invalid_client", "client authentication is required")


class TokenIssuer:
    """Issues and checks bearer tokens; enforces the rate limit per client."""

    def __init__(self, config: RestConfig) -> None:
        self.config = config
        self._tokens: dict[str, tuple[str, float]] = {}
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def issue(self, client_id: str, client_secret: str, grant_type: str | None, scope: str | None) -> dict:
        if grant_type != "client_credentials":
            raise TokenError(400, "unsupported_grant_type", "only client_credentials is supported")
        good_id = hmac.compare_digest(client_id.encode(), self.config.client_id.encode())
        good_secret = hmac.compare_digest(client_secret.encode(), self.config.client_secret.encode())
        if not (good_id and good_secret):
            raise TokenError(401, "invalid_client", "unknown client or wrong secret")
        token, ttl = secrets.token_urlsafe(32), self.config.token_ttl
        with self._lock:
            self._tokens[token] = (client_id, time.monotonic() + ttl)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": ttl}
        if scope:
            body["scope"] = scope
        return body

    def client_for(self, authorization: str | None) -> str | None:
        """The client id of a valid, unexpired bearer token, else None."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        token = authorization[7:].strip()
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None or entry[1] < time.monotonic():
                self._tokens.pop(token, None)
                return None
        return entry[0]

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    def rate_limited(self, client_id: str) -> int | None:
        """Seconds to wait when this request exceeds the client's limit, else None
        (a fixed window per client)."""
        limit, window = self.config.rate_limit, self.config.rate_window
        if not limit:
            return None
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(client_id, (now, 0))
            if now - start >= window:
                start, count = now, 0
            count += 1
            self._windows[client_id] = (start, count)
        if count > limit:
            return max(1, math.ceil(start + window - now))
        return None

    def reset_limits(self) -> None:
        with self._lock:
            self._windows.clear()
