"""Webhook signatures: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.

May import: stdlib only. The Stripe scheme (also Shopify's and Svix's in spirit): the
timestamp is signed with the body, so a captured delivery cannot be replayed once it is older
than the tolerance, and the HMAC is compared in constant time (hmac.compare_digest). Several
v1 entries are accepted (a vendor rolling its secret signs with both for a while); any other
entry (v0, a future scheme) is ignored, as Stripe documents.
"""
from __future__ import annotations

import hashlib
import hmac

SCHEME = "t-v1-hmac-sha256"
MAX_HEADER = 4096  # a header longer than this is not a signature


class SignatureError(Exception):
    """Why a delivery failed the check (no secret, PHI or body in the text)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for `body` signed at `timestamp` (what a sender computes)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            if timestamp is not None or not value.isdigit() or len(value) > 12:
                raise SignatureError("the signature header's timestamp is malformed")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value.strip().lower())
    if timestamp is None:
        raise SignatureError("the signature header has no timestamp (t=)")
    if not signatures:
        raise SignatureError("the signature header has no v1 signature")
    return timestamp, signatures


def verify(header: str | None, body: bytes, secret: str, now: float, tolerance: int) -> int:
    """The signed timestamp when `header` proves `body` came from the holder of `secret`
    within `tolerance` seconds of `now`; else SignatureError."""
    if not header:
        raise SignatureError("the signature header is missing")
    if len(header) > MAX_HEADER:
        raise SignatureError("the signature header is too long")
    timestamp, signatures = _parse(header)
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"the signature's timestamp is more than {tolerance} s from now")
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    # compare every candidate (no early exit), each in constant time
    matched = [hmac.compare_digest(expected.encode("ascii"), s.encode("ascii", "replace"))
               for s in signatures]
    if not any(matched):
        raise SignatureError("no v1 signature matches the body")
    return timestamp
