"""OpenID Connect (id_token, fhirUser), the EHR launch, CORS for browser apps and signing-key
rotation, against a gateway on a real socket. Numbers in test names are items of
../shared/design/smart-checklist.md."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from gateway.auth.launch import LaunchService

REDIRECT = "http://app.example/callback"
PASSWORD = "correct horse battery"


@pytest.fixture
def live(live_gateway):
    base, app = live_gateway
    container = app.extensions["fhir_gateway"]
    launch = LaunchService(container.auth)
    practitioner = launch.add_user("frontdesk1", PASSWORD, "front_desk", "Dana Whitfield")
    launch.add_user("frontdesk2", PASSWORD, "front_desk")
    scope = "launch launch/patient openid fhirUser offline_access patient/*.rs"
    app_client = launch.add_public_client("intake", scope, "front_desk", [REDIRECT])
    other = launch.add_public_client("other", scope, "front_desk", [REDIRECT])
    admin = container.auth.issue("seed", "integration_admin", "system/*.cruds", base)["access_token"]
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/fhir+json"}
    ids = [requests.post(f"{base}/Patient", headers=headers, timeout=10, data=json.dumps(
        {"resourceType": "Patient", "name": [{"family": f, "given": ["A"]}], "birthDate": "1980-01-01"})).json()["id"]
        for f in ("Rivera", "Okafor")]
    return {"base": base, "app": app, "client_id": app_client["client_id"], "other": other["client_id"],
            "patients": ids, "admin": admin, "practitioner": practitioner}


def _pkce():
    verifier = secrets.token_urlsafe(40)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _authorize_url(live, challenge, **extra) -> str:
    params = {"response_type": "code", "client_id": live["client_id"], "redirect_uri": REDIRECT,
              "scope": "launch/patient openid fhirUser offline_access patient/*.rs", "state": "st-1",
              "aud": live["base"], "code_challenge": challenge, "code_challenge_method": "S256"} | extra
    return requests.Request("GET", live["base"].replace("/fhir", "/oauth/authorize"),
                            params={k: v for k, v in params.items() if v is not None}).prepare().url


def _sign_in(url: str, username: str = "frontdesk1", patient: str | None = None) -> requests.Response:
    """What the person does in the browser; returns the final response (302 back to the app)."""
    session = requests.Session()
    page = session.get(url, timeout=10, allow_redirects=False)
    if page.status_code != 200:
        return page
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    form.update(username=username, password=PASSWORD)
    action = url.split("?")[0]
    answer = session.post(action, data=form, timeout=10, allow_redirects=False)
    if answer.status_code == 200 and 'name="ticket"' in answer.text:
        ticket = re.search(r'name="ticket" value="([^"]+)"', answer.text).group(1)
        # follow the picker form's own action, as a browser does
        picker_action = re.search(r'<form method="post" action="([^"]+)"', answer.text).group(1)
        assert picker_action == "/oauth/authorize/patient"
        answer = session.post(url.split("/oauth/")[0] + picker_action, data={"ticket": ticket, "patient": patient},
                              timeout=10, allow_redirects=False)
    return answer


def _redirect_query(response: requests.Response) -> dict:
    assert response.status_code == 302, response.text[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def _exchange(live, code: str, verifier: str) -> requests.Response:
    return requests.post(live["base"].replace("/fhir", "/oauth/token"), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": live["client_id"], "code_verifier": verifier})


def _launch(live, patient: str, client_id: str | None = None, **extra) -> requests.Response:
    return requests.post(live["base"].replace("/fhir", "/oauth/launch"), timeout=10,
                         headers={"Authorization": f"Bearer {live['admin']}"},
                         json={"client_id": client_id or live["client_id"], "patient": patient} | extra)


def test_26_openid_configuration_has_the_required_fields(live):
    smart = requests.get(f"{live['base']}/.well-known/smart-configuration", timeout=10).json()
    response = requests.get(f"{smart['issuer']}/.well-known/openid-configuration", timeout=10,
                            headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    config = response.json()
    for field in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
                  "subject_types_supported", "id_token_signing_alg_values_supported"):
        assert field in config, field
    assert config["issuer"] == smart["issuer"] == live["base"]
    assert "RS256" in config["id_token_signing_alg_values_supported"]
    assert {"launch-ehr", "context-ehr-patient", "sso-openid-connect"} <= set(smart["capabilities"])
    assert {"openid", "fhirUser", "launch"} <= set(smart["scopes_supported"])


def test_27_to_30_id_token_verifies_and_fhir_user_resolves_with_the_access_token(live):
    rivera = live["patients"][0]
    verifier, challenge = _pkce()
    query = _redirect_query(_sign_in(_authorize_url(live, challenge, nonce="n-42"), patient=rivera))
    assert query["state"] == "st-1"
    response = _exchange(live, query["code"], verifier)
    assert response.status_code == 200
    body = response.json()
    assert body["patient"] == rivera and body["refresh_token"]
    # patient/*.rs is narrowed to the front_desk role's types (item 21 then reports it; the
    # conformance run signs in as integration_admin, whose ceiling holds patient/*.rs)
    assert set(body["scope"].split()) >= {"openid", "fhirUser", "launch/patient", "patient/Patient.rs"}

    jwks = requests.get(live["base"].replace("/fhir", "/oauth/jwks"), timeout=10).json()
    assert jwks["keys"] and all(k["kty"] == "RSA" for k in jwks["keys"])
    header = json.loads(base64.urlsafe_b64decode(body["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["kid"] in {k["kid"] for k in jwks["keys"]}
    claims = jwt.decode(body["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["iss"] == live["base"] and claims["aud"] == live["client_id"]
    assert claims["sub"] == "frontdesk1" and claims["nonce"] == "n-42"
    assert claims["exp"] > claims["iat"]
    assert claims["fhirUser"] == f"{live['base']}/Practitioner/{live['practitioner']}"

    auth = {"Authorization": f"Bearer {body['access_token']}", "Accept": "application/fhir+json"}
    me = requests.get(claims["fhirUser"], headers=auth, timeout=10)
    assert me.status_code == 200 and me.json()["resourceType"] == "Practitioner"
    assert me.json()["name"][0]["family"] == "Whitfield"
    # the fhirUser exception covers exactly the user's own Practitioner, nothing else
    others = requests.get(f"{live['base']}/Practitioner", headers=auth, timeout=10)
    assert others.status_code == 403

    # item 33: introspection agrees with the token response and the id_token
    introspected = requests.post(live["base"].replace("/fhir", "/oauth/introspect"), timeout=10,
                                 data={"token": body["access_token"]}, auth=_introspector(live)).json()
    assert introspected["active"] is True and introspected["patient"] == rivera
    assert set(introspected["scope"].split()) == set(body["scope"].split())
    assert introspected["iss"] == claims["iss"] and introspected["sub"] == claims["sub"]
    assert introspected["fhirUser"] == claims["fhirUser"]

    # an id_token is not an access token: its audience is the app
    assert requests.get(f"{live['base']}/Patient/{rivera}", timeout=10, headers={
        "Authorization": f"Bearer {body['id_token']}"}).status_code == 401


def _introspector(live) -> tuple[str, str]:
    created = live["app"].extensions["fhir_gateway"].auth.add_client("rs", "system/*.rs", "integration_admin")
    return created["client_id"], created["client_secret"]


def test_31_32_refresh_without_scope_keeps_a_subset_and_fhir_user(live):
    rivera = live["patients"][0]
    verifier, challenge = _pkce()
    query = _redirect_query(_sign_in(_authorize_url(live, challenge), patient=rivera))
    first = _exchange(live, query["code"], verifier).json()
    token_url = live["base"].replace("/fhir", "/oauth/token")
    renewed = requests.post(token_url, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": live["client_id"]})
    assert renewed.status_code == 200
    assert renewed.headers["Cache-Control"] == "no-store" and renewed.headers["Pragma"] == "no-cache"
    body = renewed.json()
    assert set(body["scope"].split()) <= set(first["scope"].split())
    narrowed = requests.post(token_url, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": live["client_id"],
        "scope": "patient/Patient.rs fhirUser"}).json()
    assert narrowed["scope"] == "patient/Patient.rs fhirUser"
    practitioner = f"{live['base']}/Practitioner/{live['practitioner']}"
    assert requests.get(practitioner, timeout=10, headers={
        "Authorization": f"Bearer {narrowed['access_token']}"}).status_code == 200


def test_09_ehr_launch_puts_the_ehr_patient_in_context_without_a_picker(live):
    okafor = live["patients"][1]
    created = _launch(live, okafor, launch_url="https://app.example/launch")
    assert created.status_code == 201
    launch = created.json()
    assert launch["iss"] == live["base"]
    assert parse_qs(urlsplit(launch["launch_url"]).query) == {"iss": [live["base"]], "launch": [launch["launch"]]}
    verifier, challenge = _pkce()
    url = _authorize_url(live, challenge, launch=launch["launch"],
                         scope="launch openid fhirUser patient/*.rs")
    query = _redirect_query(_sign_in(url))  # no patient picker: the EHR chose the patient
    body = _exchange(live, query["code"], verifier).json()
    assert body["patient"] == okafor
    read = requests.get(f"{live['base']}/Patient/{okafor}", timeout=10,
                        headers={"Authorization": f"Bearer {body['access_token']}"})
    assert read.status_code == 200


@pytest.mark.parametrize("case", ["other-client", "no-launch-scope", "scope-without-launch", "made-up",
                                  "expired"])
def test_bad_ehr_launches_go_back_with_an_error(live, case):
    okafor = live["patients"][1]
    _verifier, challenge = _pkce()
    launch = _launch(live, okafor, client_id=live["other"] if case == "other-client" else None).json()["launch"]
    scope = "launch patient/*.rs"
    if case == "no-launch-scope":
        scope = "patient/*.rs"
    if case == "scope-without-launch":
        launch = None
    if case == "made-up":
        launch = "not-a-launch"
    if case == "expired":
        auth = live["app"].extensions["fhir_gateway"].auth
        real = auth.clock
        auth.clock = lambda: real() + timedelta(hours=2)
    url = _authorize_url(live, challenge, launch=launch, scope=scope)
    response = requests.get(url, timeout=10, allow_redirects=False)
    query = _redirect_query(response)
    assert query["error"] in ("invalid_request", "invalid_scope") and query["state"] == "st-1"


def test_ehr_launch_for_a_named_user_refuses_another_login(live):
    launch = _launch(live, live["patients"][0], user="frontdesk2").json()["launch"]
    _verifier, challenge = _pkce()
    url = _authorize_url(live, challenge, launch=launch, scope="launch patient/*.rs")
    query = _redirect_query(_sign_in(url, username="frontdesk1"))
    assert query["error"] == "access_denied"


def test_launch_endpoint_needs_a_token_that_may_read_the_patient(live):
    url = live["base"].replace("/fhir", "/oauth/launch")
    body = {"client_id": live["client_id"], "patient": live["patients"][0]}
    assert requests.post(url, json=body, timeout=10).status_code == 401
    auth = live["app"].extensions["fhir_gateway"].auth
    auditor = auth.issue("aud1", "auditor", "system/AuditEvent.rs", live["base"])["access_token"]
    refused = requests.post(url, json=body, timeout=10, headers={"Authorization": f"Bearer {auditor}"})
    assert refused.status_code == 403
    missing = _launch(live, "no-such-patient")
    assert missing.status_code == 404 and "patient" in missing.json()["error_description"]
    assert _launch(live, live["patients"][0], client_id="no-such-client").status_code == 400


def test_cors_preflight_and_exposed_headers_for_browser_apps(live):
    origin = "https://app.example"
    preflight = requests.options(f"{live['base']}/Patient", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-evil"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    allowed = {h.strip() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"authorization", "content-type"}
    read = requests.get(f"{live['base']}/Patient/{live['patients'][0]}", timeout=10, headers={
        "Origin": origin, "Authorization": f"Bearer {live['admin']}"})
    assert read.status_code == 200 and read.headers["Access-Control-Allow-Origin"] == origin
    assert "ETag" in read.headers["Access-Control-Expose-Headers"]
    # a token endpoint preflight too (public browser apps, item 17)
    token = requests.options(live["base"].replace("/fhir", "/oauth/token"), timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert token.status_code == 204 and token.headers["Access-Control-Allow-Origin"] == origin


def test_key_rotation_keeps_old_tokens_valid_until_retired(live):
    auth = live["app"].extensions["fhir_gateway"].auth
    base = live["base"]
    old = auth.issue("c1", "integration_admin", "system/*.rs", base)["access_token"]
    old_kid = auth.list_keys()[0]["kid"]
    new_kid = auth.rotate_key()
    assert [k["kid"] for k in auth.list_keys()] == [new_kid, old_kid]
    new = auth.issue("c1", "integration_admin", "system/*.rs", base)["access_token"]
    assert json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))["kid"] == new_kid
    jwks = requests.get(base.replace("/fhir", "/oauth/jwks"), timeout=10).json()
    assert {k["kid"] for k in jwks["keys"]} == {new_kid, old_kid}
    for token in (old, new):
        assert requests.get(f"{base}/Patient", timeout=10,
                            headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert auth.retire_keys() == []  # the old key may still have live tokens
    real = auth.clock
    auth.clock = lambda: real() + timedelta(hours=2)
    assert auth.retire_keys() == [old_kid]
    auth.clock = real
    assert [k["kid"] for k in auth.list_keys()] == [new_kid]
    assert requests.get(f"{base}/Patient", timeout=10,
                        headers={"Authorization": f"Bearer {old}"}).status_code == 401


def _cli(settings_overrides, *args, stdin: str | None = None):
    import subprocess
    import sys
    env = {"GATEWAY_DATABASE_URL": settings_overrides["database_url"], "PATH": "/usr/bin:/bin",
           "GATEWAY_BASE_URL": "https://gw.example/fhir"}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], input=stdin,
                          capture_output=True, text=True, env=env)


def test_users_launch_and_keys_commands(settings_overrides, app):
    added = _cli(settings_overrides, "users", "add", "nurse.joy", "--role", "clinician", "--name",
                 "Joy Nakamura", "--password-stdin", stdin="a long enough password\n")
    assert added.returncode == 0, added.stderr
    user = json.loads(added.stdout)
    assert user["fhirUser"].startswith("Practitioner/")
    again = _cli(settings_overrides, "users", "add", "nurse.joy", "--role", "clinician", "--password-stdin",
                 stdin="a long enough password\n")
    assert again.returncode == 2 and "exists already" in again.stderr

    container = app.extensions["fhir_gateway"]
    practitioner = container.fhir.read("Practitioner", user["fhirUser"].split("/")[1])
    assert json.loads(practitioner.content)["name"][0]["given"] == ["Joy"]
    client = LaunchService(container.auth).add_public_client("app", "launch patient/*.rs", "clinician", [REDIRECT])
    patient = container.fhir.create("Patient", {"resourceType": "Patient", "name": [{"family": "Ito"}]},
                                    base_url="https://gw.example/fhir").stored.id
    made = _cli(settings_overrides, "launch", client["client_id"], "--patient", patient,
                "--launch-url", "https://app.example/launch")
    assert made.returncode == 0, made.stderr
    out = json.loads(made.stdout)
    assert out["iss"] == "https://gw.example/fhir" and out["launch"] in out["launch_url"]
    missing = _cli(settings_overrides, "launch", client["client_id"], "--patient", "nobody")
    assert missing.returncode == 2 and "nobody" in missing.stderr

    listed = json.loads(_cli(settings_overrides, "keys", "list").stdout)["keys"]
    rotated = json.loads(_cli(settings_overrides, "keys", "rotate").stdout)
    after = json.loads(_cli(settings_overrides, "keys", "list").stdout)["keys"]
    assert after[0] == {**after[0], "kid": rotated["kid"], "signing": True}
    assert len(after) == len(listed) + 1 and not after[1]["signing"]


def test_oauth_refusals_and_grants_are_audited(live):
    """Issue 4: wrong aud, failed sign-in, reused code... each refused AND audited; grants too."""
    rivera = live["patients"][0]
    _verifier, challenge = _pkce()
    requests.get(_authorize_url(live, challenge, aud="https://evil.example/fhir"), timeout=10, allow_redirects=False)
    session = requests.Session()
    page = session.get(_authorize_url(live, challenge), timeout=10)
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text), username="frontdesk1", password="wrong")
    assert session.post(page.url.split("?")[0], data=form, timeout=10).status_code == 401
    verifier, challenge = _pkce()
    code = _redirect_query(_sign_in(_authorize_url(live, challenge), patient=rivera))["code"]
    assert _exchange(live, code, verifier).status_code == 200
    assert _exchange(live, code, verifier).status_code == 400  # reused
    events = requests.get(f"{live['base']}/AuditEvent", params={"_count": "200"}, timeout=10,
                          headers={"Authorization": f"Bearer {live['admin']}"}).json()
    logins = [e["resource"] for e in events.get("entry", []) if e["resource"]["type"]["code"] == "110114"]
    described = [(e["outcome"], e.get("outcomeDesc", "")) for e in logins]
    assert any(o != "0" and "aud must be" in d for o, d in described), described
    assert any(o != "0" and "sign-in failed" in d for o, d in described)
    assert any(o == "0" and "authorization code issued" in d for o, d in described)
    assert any(o == "0" and "token issued (authorization_code)" in d for o, d in described)
    assert any(o != "0" and "invalid_grant" in d for o, d in described)
    assert all("wrong" not in json.dumps(e) for e in logins)  # the password never lands in the trail


def test_a_remembered_token_still_expires_and_can_still_be_revoked(live):
    """verify() remembers a checked signature; expiry and revocation are checked every time."""
    auth = live["app"].extensions["fhir_gateway"].auth
    base = live["base"]
    token = auth.issue("c2", "integration_admin", "system/*.rs", base, lifetime=60)["access_token"]
    get = lambda: requests.get(f"{base}/Patient", timeout=10, headers={"Authorization": f"Bearer {token}"})
    assert get().status_code == 200 and get().status_code == 200  # the second one is remembered
    real = auth.clock
    auth.clock = lambda: real() + timedelta(seconds=61)
    try:
        assert get().status_code == 401
    finally:
        auth.clock = real
    assert get().status_code == 200
    auth.revoke(token, base)
    assert get().status_code == 401
