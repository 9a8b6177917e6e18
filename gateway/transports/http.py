"""Vendor HTTP client: JSON over a requests.Session with timeouts and OAuth2 or API-key auth.

May import: stdlib, requests, authlib (its requests client) and the sibling http_errors module.
No retries here (they belong to gateway.sync), except one: a 401 on a request sent with a
cached OAuth2 token fetches a fresh token and sends the request once more.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from requests.packages.urllib3.exceptions import NewConnectionError  # type: ignore[import]

from gateway.transports.http_errors import (HttpError, HttpRateLimited, HttpRefused,
                                            HttpUnavailable, raise_for_response)

__all__ = ["VendorHttpClient", "VendorResponse", "OAuth2ClientCredentials", "ApiKeyAuth",
           "HttpError", "HttpUnavailable", "HttpRateLimited", "HttpRefused"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OAuth2ClientCredentials:
    """OAuth 2.0 client credentials grant (RFC 6749 section 4.4); the SMART Backend Services
    shape without the JWT assertion. `auth_method`: client_secret_basic | client_secret_post.
    `leeway`: seconds before expiry at which the token is fetched anew."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    auth_method: str = "client_secret_basic"
    leeway: int = 30


@dataclass(frozen=True)
class ApiKeyAuth:
    """A static key in a header, for vendors that demand it (not SMART/OAuth2 compliant)."""

    key: str = field(repr=False)
    header: str = "X-API-Key"
    prefix: str = ""  # e.g. "ApiKey " when the vendor wants `Authorization: ApiKey <key>`


Auth = Union[OAuth2ClientCredentials, ApiKeyAuth]


@dataclass(frozen=True)
class VendorResponse:
    """A successful (< 400) answer: status, headers, and the JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")


class VendorHttpClient:
    """`VendorHttpClient(base_url, auth=..., timeout=(connect, read))`; `request()` returns a
    VendorResponse or raises HttpUnavailable / HttpRateLimited / HttpRefused."""

    def __init__(self, base_url: str, *, auth: Auth, timeout: float | tuple[float, float] = (5.0, 30.0),
                 verify: bool | str = True, cert: str | tuple[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth, self.timeout = auth, timeout
        self.token_fetches = 0
        self._session = self._build_session(auth)
        self._session.verify = verify
        self._session.cert = cert
        self._session.headers["Accept"] = "application/json"
        if isinstance(auth, ApiKeyAuth):
            # Said once per client, with no PHI: the backend name is all an operator needs.
            log.warning("vendor API %s uses API-key auth: not compliant with SMART/OAuth2",
                        self.base_url)

    def _build_session(self, auth: Auth) -> requests.Session:
        if isinstance(auth, ApiKeyAuth):
            session = requests.Session()
            session.headers[auth.header] = auth.prefix + auth.key
            return session
        session = OAuth2Session(auth.client_id, auth.client_secret,
                                token_endpoint_auth_method=auth.auth_method, scope=auth.scope,
                                token_endpoint=auth.token_url, grant_type="client_credentials",
                                leeway=auth.leeway, default_timeout=self.timeout)
        session.register_compliance_hook("access_token_response", self._check_token_response)
        return session

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> VendorResponse:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any) -> VendorResponse:
        return self.request("POST", path, json=json)

    def put(self, path: str, json: Any) -> VendorResponse:
        return self.request("PUT", path, json=json)

    def delete(self, path: str) -> VendorResponse:
        return self.request("DELETE", path)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None) -> VendorResponse:
        url = self.url(path)
        what = f"{method} {url.split('?', 1)[0]}"  # never the query: it can carry PHI
        oauth = isinstance(self._session, OAuth2Session)
        fetches_before = self.token_fetches
        if oauth and not self._session.token:
            self.fetch_token()
        response = self._send(method, url, params, json, what)
        # A 401 on a token fetched for this very request would only repeat itself.
        if response.status_code == 401 and oauth and self.token_fetches == fetches_before:
            log.info("%s: 401 with a cached token; fetching a new token and trying once more", what)
            self.fetch_token()
            response = self._send(method, url, params, json, what)
        raise_for_response(response, what)
        return VendorResponse(response.status_code, dict(response.headers), _json_body(response))

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            if not path.startswith(self.base_url + "/"):
                raise ValueError(f"{path} is not under {self.base_url}")
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def fetch_token(self) -> None:
        """Fetch a new access token (client credentials grant)."""
        auth = self.auth
        try:
            self._session.fetch_token(auth.token_url, grant_type="client_credentials",
                                      timeout=self.timeout)
        except HttpError:
            raise
        except OAuthError as exc:
            raise HttpRefused(f"token endpoint refused: {exc.error}", status=400,
                              code=exc.error or "", vendor_message=exc.description or "") from exc
        except requests.RequestException as exc:
            raise _unavailable(exc, f"POST {auth.token_url}") from exc

    def _send(self, method: str, url: str, params, json, what: str) -> requests.Response:
        try:
            return self._session.request(method, url, params=params, json=json, timeout=self.timeout)
        except HttpError:
            raise  # from the token hook when an expired token was renewed on the way
        except OAuthError as exc:
            raise HttpRefused(f"token renewal refused: {exc.error}", status=400,
                              code=exc.error or "", vendor_message=exc.description or "") from exc
        except requests.RequestException as exc:
            raise _unavailable(exc, what) from exc

    def _check_token_response(self, response: requests.Response) -> requests.Response:
        # Every token response passes here, including authlib's own renewal of an expired one.
        self.token_fetches += 1
        raise_for_response(response, f"POST {self.auth.token_url}")
        return response

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "VendorHttpClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _unavailable(exc: requests.RequestException, what: str) -> HttpUnavailable:
    """Connect failures were certainly not sent; a read timeout or a reset mid-way may have been."""
    if isinstance(exc, requests.ConnectTimeout):
        return HttpUnavailable(f"{what}: timed out connecting", sent=False)
    if isinstance(exc, requests.Timeout):
        return HttpUnavailable(f"{what}: timed out waiting for the answer", sent=True)
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError) or isinstance(exc, requests.exceptions.InvalidURL):
        return HttpUnavailable(f"{what}: cannot connect", sent=False)
    return HttpUnavailable(f"{what}: {type(exc).__name__}", sent=True)


def _json_body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise HttpUnavailable(f"vendor answered HTTP {response.status_code} with a body that "
                              "is not JSON", status=response.status_code, sent=True) from exc
