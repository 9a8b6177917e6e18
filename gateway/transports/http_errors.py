"""Typed errors of a vendor HTTP exchange, and how a response becomes one.

May import: stdlib and requests (for the Response type only). `sent` says whether the request
may have reached the vendor: False (connect failure) means it certainly did not.
"""
from __future__ import annotations

import email.utils
import time

import requests


class HttpError(Exception):
    """Base of every vendor HTTP transport error."""

    def __init__(self, message: str, *, status: int | None = None, sent: bool = False) -> None:
        super().__init__(message)
        self.status, self.sent = status, sent


class HttpUnavailable(HttpError):
    """The vendor could not take the request now: connect error, timeout, 5xx."""

    def __init__(self, message: str, *, status: int | None = None, sent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, sent=sent)
        self.retry_after = retry_after


class HttpRateLimited(HttpUnavailable):
    """429 Too Many Requests; `retry_after` holds the seconds the vendor asked us to wait."""


class HttpRefused(HttpError):
    """A 4xx other than 429: the vendor refused this request; `code`/`message` are its own."""

    def __init__(self, message: str, *, status: int, code: str = "", vendor_message: str = "",
                 body=None) -> None:
        super().__init__(message, status=status, sent=True)
        self.code, self.vendor_message = code, vendor_message
        self.body = body  # the vendor's JSON error body, for a profile's own error pointers


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def vendor_error(response: requests.Response) -> tuple[str, str]:
    """(code, message) from an error body: {"error": {"code", "message"}} (the sandbox REST
    EHR), {"error", "error_description"} (OAuth 2, RFC 6749 section 5.2), or {"message"}."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if not isinstance(body, dict):
        return "", str(body)[:200]
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("code", "")), str(error.get("message", ""))
    if isinstance(error, str):
        return error, str(body.get("error_description") or body.get("message") or "")
    return str(body.get("code", "")), str(body.get("message", ""))


def raise_for_response(response: requests.Response, what: str) -> None:
    """Raise the typed error for a 4xx/5xx response; return for anything below 400."""
    status = response.status_code
    if status < 400:
        return
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    code, message = vendor_error(response)
    detail = f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status == 429:
        raise HttpRateLimited(detail, status=status, sent=True,
                              retry_after=retry_after if retry_after is not None else 1.0)
    if status >= 500:
        raise HttpUnavailable(detail, status=status, sent=True, retry_after=retry_after)
    try:
        body = response.json()
    except ValueError:
        body = None
    raise HttpRefused(detail, status=status, code=code, vendor_message=message, body=body)
