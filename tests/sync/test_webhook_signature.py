"""gateway.sync.webhook_signature: `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, checked against
values computed here with the standard library alone, at the tolerance's edges, and against
headers that are malformed in every way a sender (or an attacker) could get wrong."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from gateway.sync.webhook_signature import SignatureError, sign, verify

SECRET = "whsec_" + "s" * 32
BODY = b'{"id":"evt_1","type":"patient.updated","resource":{"type":"patient","id":"p-000001"}}'
NOW = 1_800_000_000


def _mac(body: bytes = BODY, secret: str = SECRET, t: int = NOW) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_sign_is_the_documented_hmac():
    assert sign(SECRET, NOW, BODY) == f"t={NOW},v1={_mac()}"


@pytest.mark.parametrize("header", [
    f"t={NOW},v1={_mac()}",
    f"v1={_mac()},t={NOW}",  # order does not matter
    f" t={NOW} , v1={_mac().upper()} ",  # spaces, upper-case hex
    f"t={NOW},v1={'0' * 64},v1={_mac()}",  # a rolled secret: any v1 may match
    f"t={NOW},v0=legacy,v1={_mac()},v2=future",  # other schemes are ignored
])
def test_good_headers_verify(header):
    assert verify(header, BODY, SECRET, NOW, 300) == NOW


@pytest.mark.parametrize("now", [NOW + 300, NOW - 300])
def test_the_tolerance_is_inclusive(now):
    assert verify(sign(SECRET, NOW, BODY), BODY, SECRET, now, 300) == NOW


@pytest.mark.parametrize("header, body, secret, now, reason", [
    (None, BODY, SECRET, NOW, "missing"),
    ("", BODY, SECRET, NOW, "missing"),
    ("garbage", BODY, SECRET, NOW, "no timestamp"),
    (f"v1={_mac()}", BODY, SECRET, NOW, "no timestamp"),
    (f"t={NOW}", BODY, SECRET, NOW, "no v1"),
    (f"t=abc,v1={_mac()}", BODY, SECRET, NOW, "malformed"),
    (f"t=-{NOW},v1={_mac()}", BODY, SECRET, NOW, "malformed"),
    (f"t={NOW},t={NOW},v1={_mac()}", BODY, SECRET, NOW, "malformed"),
    (f"t={NOW},v1={_mac()}", BODY + b" ", SECRET, NOW, "no v1 signature matches"),
    (f"t={NOW},v1={_mac()}", BODY, SECRET + "x", NOW, "no v1 signature matches"),
    (f"t={NOW},v1={_mac()[:-1]}", BODY, SECRET, NOW, "no v1 signature matches"),
    (f"t={NOW},v1=\u00e9{_mac()[1:]}", BODY, SECRET, NOW, "no v1 signature matches"),
    (f"t={NOW},v1={_mac()}", BODY, SECRET, NOW + 301, "more than 300 s"),
    (f"t={NOW},v1={_mac()}", BODY, SECRET, NOW - 301, "more than 300 s"),
    (f"t={NOW},v1={_mac()}," + "x" * 5000, BODY, SECRET, NOW, "too long"),
])
def test_bad_headers_are_refused_with_a_reason(header, body, secret, now, reason):
    with pytest.raises(SignatureError, match=reason) as caught:
        verify(header, body, secret, now, 300)
    assert secret not in str(caught.value) and _mac() not in str(caught.value)


def test_a_replayed_delivery_is_refused_once_it_is_old():
    header = sign(SECRET, NOW, BODY)
    assert verify(header, BODY, SECRET, NOW + 60, 300) == NOW
    with pytest.raises(SignatureError):
        verify(header, BODY, SECRET, NOW + 3600, 300)
