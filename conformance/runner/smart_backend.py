"""SMART Backend Services checks (client_credentials + private_key_jwt), numbered like
../shared/design/smart-checklist.md items 37-40, with the negative cases Inferno runs and the
replay and lifetime rules of SMART App Launch 2.x client-confidential-asymmetric.md.

May import: requests, joserfc, ssl, socket, stdlib, conformance.runner.{report,tokens}.
"""
from __future__ import annotations

import socket
import ssl
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from conformance.runner.report import Report
from conformance.runner.tokens import ASSERTION_TYPE, _load_key


def _assertion(key, alg: str, client_id: str, audience: str, *, lifetime: int = 240, jti: str | None = None) -> str:
    header = {"alg": alg, "typ": "JWT", **({"kid": key.kid} if key.kid else {})}
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "exp": now + lifetime,
              "jti": jti or uuid.uuid4().hex}
    return jwt.encode(header, claims, key, algorithms=[alg])  # ES384/RS384 are opt-in in joserfc


def _post(url: str, timeout: float, **form) -> requests.Response:
    return requests.post(url, data=form, timeout=timeout)


def _tls_check(report: Report, base: str, timeout: float) -> None:
    parts = urlsplit(base)
    if parts.scheme != "https":
        report.add("S.40", "TLS 1.2 or higher, older protocols refused", "skip",
                   "the server under test is on plain HTTP (loopback); run against the TLS listener")
        return
    host, port = parts.hostname, parts.port or 443
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, old.wrap_socket(raw, server_hostname=host):
            refused = False
    except (ssl.SSLError, OSError):
        refused = True
    report.add("S.40", "a TLS 1.1 handshake is refused", refused)


def run_backend(report: Report, base: str, token_url: str, client_id: str, key_path: Path,
                timeout: float = 30) -> None:
    key, alg = _load_key(key_path)
    report.add("S.40", f"client key is usable for {alg} (kty and kid present)",
               isinstance(key, (RSAKey, ECKey)) and bool(key.kid), f"kid={key.kid!r}")
    good = _post(token_url, timeout, grant_type="client_credentials", scope="system/Appointment.rs",
                 client_assertion_type=ASSERTION_TYPE, client_assertion=_assertion(key, alg, client_id, token_url))
    report.add("S.37", f"a valid {alg} client assertion gets a token", good.status_code in (200, 201),
               f"HTTP {good.status_code} {good.text[:200]}")
    body = good.json() if good.headers.get("Content-Type", "").startswith("application/json") else {}
    report.add("S.38", "backend token response: access_token, token_type bearer, numeric expires_in, scope",
               isinstance(body.get("access_token"), str) and str(body.get("token_type", "")).lower() == "bearer"
               and isinstance(body.get("expires_in"), (int, float)) and isinstance(body.get("scope"), str))
    if body.get("access_token"):
        search = requests.get(f"{base}/Appointment", timeout=timeout, headers={
            "Authorization": f"Bearer {body['access_token']}", "Accept": "application/fhir+json"})
        report.add("S.37", "the system token searches Appointments", search.status_code == 200
                   and search.json().get("resourceType") == "Bundle", f"HTTP {search.status_code}")

    wrong_grant = _post(token_url, timeout, grant_type="password", scope="system/Appointment.rs",
                        client_assertion_type=ASSERTION_TYPE, client_assertion=_assertion(key, alg, client_id, token_url))
    report.add("S.39", "grant_type other than client_credentials is 400", wrong_grant.status_code == 400,
               f"HTTP {wrong_grant.status_code}")
    bad_type = _post(token_url, timeout, grant_type="client_credentials", scope="system/Appointment.rs",
                     client_assertion_type="urn:example:not-jwt-bearer",
                     client_assertion=_assertion(key, alg, client_id, token_url))
    report.add("S.39", "a wrong client_assertion_type is 400 or 401", bad_type.status_code in (400, 401),
               f"HTTP {bad_type.status_code}")
    stranger = (ECKey.generate_key("P-384", parameters={"kid": key.kid}) if alg == "ES384"
                else RSAKey.generate_key(2048, parameters={"kid": key.kid}))
    forged = _post(token_url, timeout, grant_type="client_credentials", scope="system/Appointment.rs",
                   client_assertion_type=ASSERTION_TYPE, client_assertion=_assertion(stranger, alg, client_id, token_url))
    report.add("S.39", "an assertion signed with an unregistered key is 400 or 401", forged.status_code in (400, 401),
               f"HTTP {forged.status_code}")
    garbage = _post(token_url, timeout, grant_type="client_credentials", scope="system/Appointment.rs",
                    client_assertion_type=ASSERTION_TYPE, client_assertion="not.a.jwt")
    report.add("S.39", "a malformed assertion is 400 or 401", garbage.status_code in (400, 401),
               f"HTTP {garbage.status_code}")
    jti = uuid.uuid4().hex
    first = _post(token_url, timeout, grant_type="client_credentials", scope="system/Appointment.rs",
                  client_assertion_type=ASSERTION_TYPE, client_assertion=_assertion(key, alg, client_id, token_url, jti=jti))
    replay = _post(token_url, timeout, grant_type="client_credentials", scope="system/Appointment.rs",
                   client_assertion_type=ASSERTION_TYPE, client_assertion=_assertion(key, alg, client_id, token_url, jti=jti))
    report.add("S.37", "a replayed jti is refused", first.status_code == 200 and replay.status_code in (400, 401),
               f"first HTTP {first.status_code}, replay HTTP {replay.status_code}")
    too_long = _post(token_url, timeout, grant_type="client_credentials", scope="system/Appointment.rs",
                     client_assertion_type=ASSERTION_TYPE,
                     client_assertion=_assertion(key, alg, client_id, token_url, lifetime=3600))
    report.add("S.37", "an assertion living longer than 5 minutes is refused", too_long.status_code in (400, 401),
               f"HTTP {too_long.status_code}")
    _tls_check(report, base, timeout)
