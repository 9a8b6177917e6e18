"""Standalone launch with PKCE, driven by the real Python `fhirclient` against a gateway on a
real socket: staff login, patient picker, code exchange, then reading the patient in context.
Negative cases: wrong aud, missing or plain PKCE, reused code, wrong verifier."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.models.patient import Patient
from gateway.auth.launch import LaunchService

REDIRECT = "http://app.example/callback"


@pytest.fixture
def live(live_gateway):
    base, app = live_gateway
    container = app.extensions["fhir_gateway"]
    launch = LaunchService(container.auth)
    launch.add_user("frontdesk1", "correct horse battery", "front_desk")
    app_client = launch.add_public_client("intake", "patient/*.rs launch/patient", "front_desk", [REDIRECT])
    admin = container.auth.issue("seed", "integration_admin", "system/*.cruds", base)["access_token"]
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/fhir+json"}
    ids = [requests.post(f"{base}/Patient", headers=headers, timeout=10, data=json.dumps(
        {"resourceType": "Patient", "name": [{"family": f, "given": ["A"]}], "birthDate": "1980-01-01"})).json()["id"]
        for f in ("Rivera", "Okafor")]
    return base, app_client["client_id"], ids


def _login_and_pick(authorize_url: str, patient_id: str) -> str:
    """What a person does in the browser: sign in, pick the patient; returns the redirect."""
    session = requests.Session()
    page = session.get(authorize_url, timeout=10)
    assert page.status_code == 200 and "Password" in page.text
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    form.update(username="frontdesk1", password="correct horse battery")
    picker = session.post(page.url.split("?")[0], data=form, timeout=10, allow_redirects=False)
    assert picker.status_code == 200 and patient_id in picker.text
    ticket = re.search(r'name="ticket" value="([^"]+)"', picker.text).group(1)
    done = session.post(page.url.split("?")[0] + "/patient", data={"ticket": ticket, "patient": patient_id},
                        timeout=10, allow_redirects=False)
    assert done.status_code == 302
    return done.headers["Location"]


def test_fhirclient_standalone_launch_reads_the_patient_in_context(live):
    base, client_id, (rivera, okafor) = live
    smart = smart_client.FHIRClient(settings={"app_id": client_id, "api_base": base,
                                              "redirect_uri": REDIRECT, "scope": "patient/*.rs"})
    url = smart.authorize_url
    assert "code_challenge_method=S256" in url and "aud=" in url
    callback = _login_and_pick(url, rivera)
    smart.handle_callback(callback)
    assert smart.patient_id == rivera
    patient = Patient.read(rivera, smart.server)
    assert patient.name[0].family == "Rivera"
    with pytest.raises(Exception):
        Patient.read(okafor, smart.server)  # outside the compartment: 403


def _pkce():
    verifier = base64.urlsafe_b64encode(b"v" * 40).decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _authorize(base, client_id, **overrides) -> requests.Response:
    _verifier, challenge = _pkce()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
              "scope": "launch/patient patient/Patient.rs", "state": "s-123", "aud": base,
              "code_challenge": challenge, "code_challenge_method": "S256"} | overrides
    return requests.get(base.replace("/fhir", "/oauth/authorize"), params={k: v for k, v in params.items() if v is not None},
                        timeout=10, allow_redirects=False)


@pytest.mark.parametrize("overrides, error", [
    ({"aud": "https://evil.example/fhir"}, "invalid_request"),
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
])
def test_bad_authorize_requests_go_back_with_error_and_state(live, overrides, error):
    base, client_id, _ids = live
    response = _authorize(base, client_id, **overrides)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == [error] and query["state"] == ["s-123"]


def test_unregistered_redirect_uri_is_not_followed(live):
    base, client_id, _ids = live
    response = _authorize(base, client_id, redirect_uri="https://evil.example/steal")
    assert response.status_code == 400


def test_code_is_single_use_and_bound_to_the_verifier(live):
    base, client_id, (rivera, _okafor) = live
    verifier, _challenge = _pkce()
    location = _login_and_pick(_authorize(base, client_id).url, rivera)
    code = parse_qs(urlsplit(location).query)["code"][0]
    token_url = base.replace("/fhir", "/oauth/token")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client_id}
    wrong = requests.post(token_url, data=form | {"code_verifier": "x" * 43}, timeout=10)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    again = requests.post(token_url, data=form | {"code_verifier": verifier}, timeout=10)
    assert again.status_code == 400  # spent by the failed attempt: a stolen code cannot be retried


def test_offline_access_gives_a_rotating_refresh_token(live):
    base, client_id, (rivera, _okafor) = live
    verifier, _challenge = _pkce()
    response = _authorize(base, client_id, scope="launch/patient patient/Patient.rs offline_access")
    code = parse_qs(urlsplit(_login_and_pick(response.url, rivera)).query)["code"][0]
    token_url = base.replace("/fhir", "/oauth/token")
    first = requests.post(token_url, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": client_id, "code_verifier": verifier}).json()
    assert first["patient"] == rivera and first["refresh_token"]
    renewed = requests.post(token_url, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": client_id}).json()
    assert renewed["access_token"] != first["access_token"] and renewed["patient"] == rivera
    assert renewed["refresh_token"] != first["refresh_token"]
    reused = requests.post(token_url, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": client_id})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    read = requests.get(f"{base}/Patient/{rivera}", timeout=10,
                        headers={"Authorization": f"Bearer {renewed['access_token']}"})
    assert read.status_code == 200
