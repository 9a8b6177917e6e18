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


@pytest.fixture
def jwks_server():
    """A client's JWKS published over HTTP on loopback; `keys` can be swapped (rotation)."""
    import threading

    from flask import Flask, jsonify
    from werkzeug.serving import make_server
    published = {"keys": [], "hits": 0}
    site = Flask("client-jwks")

    @site.get("/.well-known/jwks.json")
    def jwks():
        published["hits"] += 1
        return jsonify({"keys": published["keys"]})
    server = make_server("127.0.0.1", 0, site, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", published
    server.shutdown()


def test_keys_registered_by_url_are_fetched_cached_and_follow_a_rotation(app, jwks_server):
    from gateway.auth.backend_services import add_jwks_url_client
    url, published = jwks_server
    first = ECKey.generate_key("P-384", parameters={"kid": "url-1"})
    published["keys"] = [first.as_dict(private=False)]
    client = app.test_client()
    registered = add_jwks_url_client(app.extensions["fhir_gateway"].auth, "remote", "system/Appointment.rs",
                                     "integration_admin", url)
    cid = registered["client_id"]
    assert _token(client, _assertion(first, "ES384", cid)).status_code == 200
    assert _token(client, _assertion(first, "ES384", cid)).status_code == 200
    assert published["hits"] == 1  # cached
    # the client rotates: a new kid makes the server fetch again
    second = ECKey.generate_key("P-384", parameters={"kid": "url-2"})
    published["keys"] = [second.as_dict(private=False)]
    app.extensions["fhir_gateway"].auth.jwks_cache[url] = (
        app.extensions["fhir_gateway"].auth.jwks_cache[url][0], time.monotonic() - 60)  # past the refetch pause
    assert _token(client, _assertion(second, "ES384", cid)).status_code == 200
    assert published["hits"] == 2


def test_jku_must_name_the_registered_url_and_urls_must_be_tls(app, jwks_server):
    from gateway.auth.backend_services import add_jwks_url_client
    url, published = jwks_server
    key = ECKey.generate_key("P-384", parameters={"kid": "jku-1"})
    published["keys"] = [key.as_dict(private=False)]
    auth = app.extensions["fhir_gateway"].auth
    cid = add_jwks_url_client(auth, "remote", "system/Appointment.rs", "integration_admin", url)["client_id"]
    now = int(time.time())
    claims = {"iss": cid, "sub": cid, "aud": TOKEN_URL, "exp": now + 120, "jti": uuid.uuid4().hex}
    good = jwt.encode({"alg": "ES384", "kid": key.kid, "jku": url}, claims, key, algorithms=["ES384"])
    assert _token(app.test_client(), good).status_code == 200
    evil = jwt.encode({"alg": "ES384", "kid": key.kid, "jku": "https://evil.example/jwks"},
                      dict(claims, jti=uuid.uuid4().hex), key, algorithms=["ES384"])
    refused = _token(app.test_client(), evil)
    assert refused.status_code == 401 and "jku" in refused.get_json()["error_description"]
    with pytest.raises(ValueError):
        add_jwks_url_client(auth, "plain", "system/*.rs", "integration_admin", "http://keys.example/jwks.json")
