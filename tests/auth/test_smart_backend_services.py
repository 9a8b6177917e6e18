"""SMART Backend Services: an ES384 (or RS384) signed assertion gets a system token that
searches Appointments; replayed jti, long-lived or mis-addressed assertions are refused."""
from __future__ import annotations

import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from gateway.app import create_app
from gateway.auth.backend_services import ASSERTION_TYPE, add_jwks_client
from gateway.settings import settings_from_mapping

TOKEN_URL = "http://gateway.test/oauth/token"


@pytest.fixture
def app(settings_overrides):
    application = create_app(settings_from_mapping(dict(settings_overrides, auth="on")))
    yield application
    application.extensions["fhir_gateway"].db.dispose()


def _assertion(key, alg: str, client_id: str, *, aud: str = TOKEN_URL, lifetime: int = 240,
               jti: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + lifetime,
              "jti": jti or uuid.uuid4().hex}
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[alg])


def _token(client, assertion: str, scope: str = "system/Appointment.rs"):
    return client.post("/oauth/token", data={
        "grant_type": "client_credentials", "scope": scope,
        "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})


@pytest.mark.parametrize("alg, key", [
    ("ES384", ECKey.generate_key("P-384", parameters={"kid": "ec-1"})),
    ("RS384", RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})),
])
def test_signed_assertion_gets_a_system_token_that_searches_appointments(app, alg, key):
    client = app.test_client()
    registered = add_jwks_client(app.extensions["fhir_gateway"].auth, "scheduler", "system/Appointment.rs",
                                 "integration_admin", {"keys": [key.as_dict(private=False)]})
    response = _token(client, _assertion(key, alg, registered["client_id"]))
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["access_token"]
    found = client.get("/fhir/Appointment", headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 200 and found.get_json()["resourceType"] == "Bundle"
    assert client.get("/fhir/Patient", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_replayed_long_lived_misaddressed_or_foreign_assertions_are_refused(app):
    client = app.test_client()
    key = ECKey.generate_key("P-384", parameters={"kid": "ec-2"})
    registered = add_jwks_client(app.extensions["fhir_gateway"].auth, "svc", "system/*.rs",
                                 "integration_admin", {"keys": [key.as_dict(private=False)]})
    cid = registered["client_id"]
    once = _assertion(key, "ES384", cid, jti="fixed-jti")
    assert _token(client, once).status_code == 200
    assert _token(client, once).get_json()["error"] == "invalid_client"  # replayed jti
    assert _token(client, _assertion(key, "ES384", cid, lifetime=3600)).status_code == 401
    assert _token(client, _assertion(key, "ES384", cid, aud="https://other/token")).status_code == 401
    stranger = ECKey.generate_key("P-384", parameters={"kid": "ec-2"})  # same kid, wrong key
    assert _token(client, _assertion(stranger, "ES384", cid)).status_code == 401
