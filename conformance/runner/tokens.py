"""Getting a bearer token for the run by the client credentials grant, as a deployment's
integration would: with a client secret (client_secret_basic) or a private key
(SMART Backend Services private_key_jwt, RS384/ES384; SMART App Launch 2.x backend-services.md).

May import: requests, joserfc, stdlib. The token endpoint is read from the server's
/.well-known/smart-configuration (SMART App Launch 2.x, conformance discovery).
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import requests
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def token_endpoint(base: str, timeout: float = 30) -> str:
    response = requests.get(f"{base.rstrip('/')}/.well-known/smart-configuration", timeout=timeout)
    response.raise_for_status()
    return response.json()["token_endpoint"]


def _load_key(path: Path):
    """A private key from a JWK (JSON) or PEM file; RSA signs RS384, EC signs ES384."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        key = (RSAKey if data.get("kty") == "RSA" else ECKey).import_key(data)
    else:
        try:
            key = RSAKey.import_key(text)
        except ValueError:
            key = ECKey.import_key(text)
    return key, "RS384" if isinstance(key, RSAKey) else "ES384"


def client_credentials(base: str, client_id: str, *, secret: str | None = None, key: Path | None = None,
                       scope: str = "system/*.cruds", timeout: float = 30) -> str:
    url = token_endpoint(base, timeout)
    form = {"grant_type": "client_credentials", "scope": scope}
    auth = None
    if key is not None:
        private, alg = _load_key(key)
        now = int(time.time())
        header = {"alg": alg, "typ": "JWT", **({"kid": private.kid} if private.kid else {})}
        claims = {"iss": client_id, "sub": client_id, "aud": url, "exp": now + 240, "jti": uuid.uuid4().hex}
        form.update(client_assertion_type=ASSERTION_TYPE, client_assertion=jwt.encode(header, claims, private,
                                                                                          algorithms=[alg]))
    else:
        auth = (client_id, secret or "")
    response = requests.post(url, data=form, auth=auth, timeout=timeout)
    if response.status_code != 200:
        raise RuntimeError(f"token request to {url} failed: HTTP {response.status_code} {response.text[:300]}")
    return response.json()["access_token"]
