"""SMART on FHIR tokens and scopes, with auth on: discovery, client credentials, bearer checks,
scope enforcement per interaction and per bundle entry, patient compartments, audit of refusals.
Numbers in test names refer to ../shared/design/smart-checklist.md items."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from gateway.app import create_app
from gateway.settings import settings_from_mapping

FHIR_JSON = "application/fhir+json"
BASE = "http://gateway.test/fhir"
PATIENT = {"resourceType": "Patient", "name": [{"family": "Okafor"}], "gender": "male"}


@pytest.fixture
def app(settings_overrides):
    application = create_app(settings_from_mapping(dict(settings_overrides, auth="on")))
    yield application
    application.extensions["fhir_gateway"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def _basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def register(app, role: str, scope: str) -> dict:
    return app.extensions["fhir_gateway"].auth.add_client(f"t-{role}", scope, role)


def token_for(client, registered: dict, scope: str | None = None):
    form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    return client.post("/oauth/token", data=form, headers=_basic(registered["client_id"], registered["client_secret"]))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON}


@pytest.fixture
def admin_token(app, client) -> str:
    return token_for(client, register(app, "integration_admin", "system/*.cruds")).get_json()["access_token"]


def test_01_05_discovery_is_json_whatever_accept_with_absolute_urls(client):
    response = client.get("/fhir/.well-known/smart-configuration", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    config = response.get_json()
    assert config["token_endpoint"] == "http://gateway.test/oauth/token"
    assert all(v.startswith("http") for k, v in config.items() if k.endswith(("_endpoint", "_uri")))
    assert "S256" in config["code_challenge_methods_supported"] and "plain" not in config["code_challenge_methods_supported"]
    # item 4: sso-openid-connect is offered, so issuer and jwks_uri are present strings
    assert "sso-openid-connect" in config["capabilities"]
    assert config["issuer"] == "http://gateway.test/fhir" and config["jwks_uri"].startswith("http")


def test_07_capability_oauth_uris_match_discovery(client):
    cs = client.get("/fhir/metadata").get_json()
    ext = cs["rest"][0]["security"]["extension"][0]
    uris = {e["url"]: e["valueUri"] for e in ext["extension"]}
    config = client.get("/fhir/.well-known/smart-configuration").get_json()
    assert uris["token"] == config["token_endpoint"] and uris["revoke"] == config["revocation_endpoint"]


def test_08_discovery_cors(client):
    response = client.get("/fhir/.well-known/smart-configuration", headers={"Origin": "https://app.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_18_24_client_credentials_token_response(app, client):
    response = token_for(client, register(app, "front_desk", "user/Patient.cruds"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and isinstance(body["expires_in"], int)
    assert body["scope"] == "user/Patient.cruds" and body["access_token"]
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"


def test_bad_client_secret_and_grant(app, client):
    registered = register(app, "front_desk", "user/Patient.rs")
    wrong = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=_basic(registered["client_id"], "nope"))
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"
    grant = client.post("/oauth/token", data={"grant_type": "password"},
                        headers=_basic(registered["client_id"], registered["client_secret"]))
    assert grant.get_json()["error"] == "unsupported_grant_type"


def test_scope_escalation_is_capped_or_refused(app, client):
    registered = register(app, "billing", "system/Coverage.cruds system/Patient.rs")
    capped = token_for(client, registered, "system/*.cruds").get_json()
    assert capped["scope"] == "system/Coverage.cruds system/Patient.rs"
    refused = token_for(client, registered, "system/AuditEvent.rs")
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_scope"


def test_missing_forged_expired_wrong_audience_and_revoked_tokens_are_401(app, client, admin_token):
    auth = app.extensions["fhir_gateway"].auth
    assert client.get("/fhir/Patient").status_code == 401
    assert "Bearer" in client.get("/fhir/Patient").headers["WWW-Authenticate"]
    head, payload, signature = admin_token.split(".")
    forged_payload = base64.urlsafe_b64encode(json.dumps(
        json.loads(base64.urlsafe_b64decode(payload + "==")) | {"scope": "system/*.cruds", "role": "x"}
    ).encode()).decode().rstrip("=")
    for token in (f"{head}.{forged_payload}.{signature}", admin_token[:-4] + "AAAA",
                  auth.issue("c", "integration_admin", "system/*.rs", BASE, lifetime=-10)["access_token"],
                  auth.issue("c", "integration_admin", "system/*.rs", "https://other/fhir")["access_token"]):
        assert client.get("/fhir/Patient", headers=bearer(token)).status_code == 401
    assert client.get("/fhir/Patient", headers=bearer(admin_token)).status_code == 200
    client.post("/oauth/revoke", data={"token": admin_token})
    assert client.get("/fhir/Patient", headers=bearer(admin_token)).status_code == 401


def test_introspection(app, client, admin_token):
    caller = register(app, "integration_admin", "system/*.rs")
    good = client.post("/oauth/introspect", data={"token": admin_token},
                       headers=_basic(caller["client_id"], caller["client_secret"])).get_json()
    assert good["active"] is True and good["scope"] == "system/*.cruds"
    bad = client.post("/oauth/introspect", data={"token": "garbage"},
                      headers=_basic(caller["client_id"], caller["client_secret"]))
    assert bad.get_json() == {"active": False}


def test_scopes_are_enforced_per_interaction_and_per_bundle_entry(app, client):
    billing = token_for(client, register(app, "billing", "system/Coverage.cruds system/Patient.rs")).get_json()["access_token"]
    assert client.get("/fhir/Patient", headers=bearer(billing)).status_code == 200
    assert client.post("/fhir/Patient", data=json.dumps(PATIENT), headers=bearer(billing)).status_code == 403
    assert client.get("/fhir/Appointment", headers=bearer(billing)).status_code == 403
    assert client.get("/fhir/AuditEvent", headers=bearer(billing)).status_code == 403
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": PATIENT, "request": {"method": "POST", "url": "Patient"}}]}
    assert client.post("/fhir", data=json.dumps(bundle), headers=bearer(billing)).status_code == 403
    bundle["type"] = "batch"
    result = client.post("/fhir", data=json.dumps(bundle), headers=bearer(billing)).get_json()
    assert result["entry"][0]["response"]["status"].startswith("403")


def test_patient_scopes_confine_to_the_patient_in_context(app, client, admin_token):
    mine = client.post("/fhir/Patient", data=json.dumps(PATIENT), headers=bearer(admin_token)).get_json()["id"]
    other = client.post("/fhir/Patient", data=json.dumps(PATIENT), headers=bearer(admin_token)).get_json()["id"]
    auth = app.extensions["fhir_gateway"].auth
    token = auth.issue("app", "front_desk", "patient/Patient.rs patient/Appointment.cruds", BASE,
                       patient=mine)["access_token"]
    assert client.get(f"/fhir/Patient/{mine}", headers=bearer(token)).status_code == 200
    assert client.get(f"/fhir/Patient/{other}", headers=bearer(token)).status_code == 403
    found = client.get("/fhir/Patient", headers=bearer(token)).get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == [mine]
    appointment = {"resourceType": "Appointment", "status": "booked", "participant": [
        {"actor": {"reference": f"Patient/{other}"}, "status": "accepted"}]}
    assert client.post("/fhir/Appointment", data=json.dumps(appointment), headers=bearer(token)).status_code == 403


def test_refused_calls_are_audited(client, admin_token):
    client.get("/fhir/Patient")  # no token
    events = client.get("/fhir/AuditEvent?outcome=4", headers=bearer(admin_token)).get_json()
    assert events["total"] >= 1


def test_clients_add_cli_prints_json(settings_overrides):
    env = {"GATEWAY_DATABASE_URL": settings_overrides["database_url"], "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "clients", "add", "intake-app",
                          "--scope", "user/Patient.cruds", "--role", "front_desk"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    assert created["client_id"].startswith("intake-app-") and created["client_secret"]
