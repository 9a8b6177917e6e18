"""Webhook sender: one HTTP request to a subscriber's endpoint, with timeouts, and its outcome.

May import: stdlib, requests, gateway.transports.http_errors. No retries here (gateway.sync
does them) and no redirects followed (a 3xx is a failure: a redirect could carry the payload
and the subscriber's headers to another host). The outcome names an HTTP status or an
exception class only; nothing logged here carries a body or an endpoint's query string.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import requests

from gateway.transports.http_errors import retry_after_seconds

CONNECT_TIMEOUT, READ_TIMEOUT = 3.0, 10.0


@dataclass(frozen=True)
class Sent:
    """How one request went: ok (any 2xx), the status, the endpoint's Retry-After hint."""

    ok: bool
    status: int | None  # None: no answer (refused, timed out, TLS failure)
    error: str | None  # "HTTP 503" or an exception class name, never a message
    retry_after: float | None = None


class WebhookSender:
    """`send(method, url, headers, body)`; one pooled requests.Session per notifier."""

    def __init__(self, timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
                 verify: bool | str = True) -> None:
        self.timeout = timeout
        self._session = requests.Session()
        self._session.verify = verify
        self._session.trust_env = False  # no proxy or netrc credentials from the environment

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Sent:
        try:
            response = self._session.request(method, url, headers=dict(headers), data=body,
                                             timeout=self.timeout, allow_redirects=False,
                                             stream=True)  # the answer's body is never read
        except requests.RequestException as exc:
            return Sent(False, None, type(exc).__name__)
        with response:
            if 200 <= response.status_code < 300:
                return Sent(True, response.status_code, None)
            return Sent(False, response.status_code, f"HTTP {response.status_code}",
                        retry_after_seconds(response.headers.get("Retry-After")))

    def close(self) -> None:
        self._session.close()
