"""SMART authorization-code checks driven through the server's own login form, numbered like
../shared/design/smart-checklist.md (S.<item>): authorize parameters, state, aud, PKCE, the
token exchange and its fields, OpenID id_token and fhirUser, refresh, introspection, EHR launch.

May import: requests, joserfc, stdlib, conformance.runner.report. The runner plays the browser
(it reads the login page's form, posts the staff credentials, picks the patient) and the app
(it never follows the redirect to the app: it reads `code` and `state` from the Location).
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from conformance.runner.report import Report

STANDALONE_SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs"  # item 15
EHR_SCOPE = "launch openid fhirUser offline_access patient/*.rs"
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
FHIR_USER_TYPES = ("Patient", "Practitioner", "RelatedPerson", "Person")  # item 30


@dataclass(frozen=True)
class LaunchOptions:
    client_id: str
    redirect_uri: str
    username: str
    password: str
    patient: str | None = None
    timeout: float = 30


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class Browser:
    """A person at the login form: sign in, choose the patient, hand back the redirect."""

    def __init__(self, config: dict, base: str, opts: LaunchOptions) -> None:
        self.config, self.base, self.opts = config, base, opts

    def authorize_params(self, challenge: str | None, scope: str, state: str, **extra) -> dict:
        params = {"response_type": "code", "client_id": self.opts.client_id, "redirect_uri": self.opts.redirect_uri,
                  "scope": scope, "state": state, "aud": self.base}
        if challenge is not None:
            params.update(code_challenge=challenge, code_challenge_method="S256")
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def start(self, params: dict) -> requests.Response:
        return requests.get(self.config["authorization_endpoint"], params=params, timeout=self.opts.timeout,
                            allow_redirects=False)

    def sign_in(self, params: dict) -> requests.Response:
        """The final response: a 302 back to the app, or whatever stopped the person."""
        session = requests.Session()
        page = session.get(self.config["authorization_endpoint"], params=params, timeout=self.opts.timeout,
                           allow_redirects=False)
        if page.status_code != 200:
            return page
        action = urljoin(page.url, (re.search(r'<form[^>]*action="([^"]+)"', page.text) or [None, page.url])[1])
        form = _hidden(page.text)
        form.update(username=self.opts.username, password=self.opts.password)
        answer = session.post(action, data=form, timeout=self.opts.timeout, allow_redirects=False)
        if answer.status_code == 200 and "<select" in answer.text:  # the patient picker
            options = re.findall(r'<option value="([^"]+)"', answer.text)
            choice = self.opts.patient if self.opts.patient in options else (options[0] if options else "")
            action = urljoin(answer.url, re.search(r'<form[^>]*action="([^"]+)"', answer.text)[1])
            form = _hidden(answer.text)
            answer = session.post(action, data=dict(form, patient=choice), timeout=self.opts.timeout,
                                  allow_redirects=False)
        return answer


def _hidden(page: str) -> dict:
    return {html.unescape(k): html.unescape(v)
            for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}


def _exchange(config: dict, opts: LaunchOptions, code: str, verifier: str, origin: str | None = None):
    headers = {"Origin": origin} if origin else {}
    return requests.post(config["token_endpoint"], timeout=opts.timeout, headers=headers, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": opts.redirect_uri,
        "client_id": opts.client_id, "code_verifier": verifier})


def _token_body_checks(report: Report, label: str, response: requests.Response, requested: str) -> dict:
    body = _json(response)
    report.add("S.16" if label == "code" else "S.31", f"{label}: token request answers 200 with JSON",
               response.status_code == 200 and bool(body), f"HTTP {response.status_code} {response.text[:200]}")
    report.add("S.18", f"{label}: access_token, token_type, expires_in and scope present and not blank",
               all(body.get(k) not in (None, "") for k in ("access_token", "token_type", "expires_in", "scope")))
    report.add("S.19", f"{label}: string and numeric field types",
               all(isinstance(body.get(k), str) for k in ("access_token", "token_type", "scope"))
               and isinstance(body.get("expires_in"), (int, float)) and not isinstance(body.get("expires_in"), bool)
               and ("refresh_token" not in body or isinstance(body["refresh_token"], str)))
    report.add("S.20", f"{label}: token_type is Bearer", str(body.get("token_type", "")).lower() == "bearer")
    report.add("S.24", f"{label}: Cache-Control no-store and Pragma no-cache",
               response.headers.get("Cache-Control") == "no-store" and response.headers.get("Pragma") == "no-cache")
    if label == "code":
        missing = set(requested.split()) - set(str(body.get("scope", "")).split())
        report.add("S.21", "every requested scope is granted", not missing,
                   f"missing: {' '.join(sorted(missing))}" if missing else requested)
    return body


def _negative_authorize(report: Report, browser: Browser, opts: LaunchOptions) -> None:
    _verifier, challenge = _pkce()
    cases = [
        ("S.11", "an aud that is not this server is refused", dict(aud="https://evil.example/fhir")),
        ("S.14", "an authorize request without PKCE is refused", dict(code_challenge=None, code_challenge_method=None)),
        ("S.14", "PKCE method plain is refused", dict(code_challenge_method="plain")),
    ]
    for number, name, override in cases:
        params = browser.authorize_params(challenge, STANDALONE_SCOPE, "neg-" + secrets.token_hex(4))
        for key, value in override.items():
            params.pop(key, None)
            if value is not None:
                params[key] = value
        response = browser.start(params)
        location = response.headers.get("Location", "")
        refused = (response.status_code in (302, 303) and "error" in _query(location) and "code" not in _query(location)) \
            or response.status_code == 400
        report.add(number, name, refused, f"HTTP {response.status_code} {location[:200]}")


def _id_token_checks(report: Report, config: dict, body: dict, opts: LaunchOptions) -> dict:
    jwks_response = requests.get(config.get("jwks_uri", ""), timeout=opts.timeout)
    keys = _json(jwks_response).get("keys", [])
    rsa = [k for k in keys if k.get("kty") == "RSA" and k.get("n") and k.get("e")]
    report.add("S.27", "jwks_uri answers JSON with at least one RSA key",
               jwks_response.status_code == 200 and bool(rsa), f"{len(keys)} keys")
    token = body.get("id_token")
    if not isinstance(token, str):
        report.add("S.28", "id_token is a decodable JWT", False, "no id_token in the token response")
        return {}
    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    except ValueError:
        header = {}
    kid_ok = len(keys) <= 1 or header.get("kid") in {k.get("kid") for k in rsa}
    report.add("S.28", "id_token header alg RS256 and kid names an RSA key of the JWKS",
               header.get("alg") == "RS256" and kid_ok, json.dumps(header))
    try:
        claims = jwt.decode(token, KeySet.import_key_set({"keys": rsa}), algorithms=["RS256"]).claims
        signature_ok = True
    except (JoseError, ValueError) as exc:
        claims, signature_ok = {}, False
        report.add("S.29", "id_token signature verifies against the JWKS", False, type(exc).__name__)
    if signature_ok:
        now = time.time()
        problems = [c for c in ("iss", "sub", "aud", "exp", "iat") if c not in claims]
        if claims.get("iss") != config.get("issuer"):
            problems.append(f"iss {claims.get('iss')!r} != issuer {config.get('issuer')!r}")
        audience = claims.get("aud")
        if audience != opts.client_id and not (isinstance(audience, list) and opts.client_id in audience):
            problems.append("aud is not the client_id")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] + 60 < now:
            problems.append("exp is not in the future")
        if not isinstance(claims.get("sub"), str) or not claims["sub"].strip() or len(claims["sub"]) >= 256:
            problems.append("sub is blank or too long")
        report.add("S.29", "id_token claims iss, sub, aud, exp, iat right and the signature verifies",
                   not problems, "; ".join(problems))
    return claims


def _fhir_user_check(report: Report, claims: dict, access_token: str, opts: LaunchOptions) -> None:
    url = claims.get("fhirUser")
    if not isinstance(url, str):
        report.add("S.30", "fhirUser claim present when fhirUser was asked for", False, "no fhirUser claim")
        return
    rtype = url.rstrip("/").split("/")[-2] if url.count("/") >= 1 else ""
    response = requests.get(url, timeout=opts.timeout, headers={"Authorization": f"Bearer {access_token}",
                                                                "Accept": "application/fhir+json"})
    ok = rtype in FHIR_USER_TYPES and response.status_code == 200 and _json(response).get("resourceType") == rtype
    report.add("S.30", "fhirUser names a Patient/Practitioner/RelatedPerson/Person the token can read", ok,
               f"{url}: HTTP {response.status_code}")


def _refresh_checks(report: Report, config: dict, body: dict, opts: LaunchOptions) -> None:
    refresh = body.get("refresh_token")
    if not refresh:
        report.add("S.31", "refresh with the refresh_token", False, "no refresh_token although offline_access was granted")
        return
    plain = requests.post(config["token_endpoint"], timeout=opts.timeout, data={
        "grant_type": "refresh_token", "refresh_token": refresh, "client_id": opts.client_id})
    renewed = _token_body_checks(report, "refresh", plain, "")
    granted = set(str(body.get("scope", "")).split())
    report.add("S.32", "the refreshed scope is a subset of the original grant",
               bool(renewed.get("scope")) and set(str(renewed.get("scope")).split()) <= granted, renewed.get("scope", ""))
    if renewed.get("refresh_token"):
        narrowed = requests.post(config["token_endpoint"], timeout=opts.timeout, data={
            "grant_type": "refresh_token", "refresh_token": renewed["refresh_token"], "client_id": opts.client_id,
            "scope": "patient/Patient.rs"})
        answer = _json(narrowed)
        report.add("S.31", "refresh asking for a narrower scope gets exactly that",
                   narrowed.status_code == 200 and answer.get("scope") == "patient/Patient.rs",
                   f"HTTP {narrowed.status_code} scope={answer.get('scope')!r}")
    reused = requests.post(config["token_endpoint"], timeout=opts.timeout, data={
        "grant_type": "refresh_token", "refresh_token": refresh, "client_id": opts.client_id})
    report.add("S.32", "a spent refresh token is refused (rotation)", reused.status_code in (400, 401),
               f"HTTP {reused.status_code}")


def _introspection_checks(report: Report, config: dict, body: dict, claims: dict, opts: LaunchOptions,
                          introspector: tuple[str, str] | None) -> None:
    endpoint = config.get("introspection_endpoint")
    if not endpoint or introspector is None:
        report.add("S.33", "introspection of an active token", "skip", "no introspection endpoint or client")
        return
    response = requests.post(endpoint, data={"token": body.get("access_token", "")}, auth=introspector,
                             timeout=opts.timeout)
    answer = _json(response)
    problems = []
    if answer.get("active") is not True:
        problems.append("active is not true")
    if set(str(answer.get("scope", "")).split()) != set(str(body.get("scope", "")).split()):
        problems.append("scope differs from the token response")
    if not answer.get("client_id"):
        problems.append("client_id missing")
    if not isinstance(answer.get("exp"), (int, float)) or answer["exp"] < time.time() - 600:
        problems.append("exp missing or stale")
    if body.get("patient") and answer.get("patient") != body.get("patient"):
        problems.append("patient differs from the launch context")
    if claims and (answer.get("iss") != claims.get("iss") or answer.get("sub") != claims.get("sub")):
        problems.append("iss/sub differ from the id_token")
    if claims.get("fhirUser") and answer.get("fhirUser") != claims.get("fhirUser"):
        problems.append("fhirUser differs from the id_token")
    report.add("S.33", "introspection of the active token matches the token response and id_token",
               response.status_code == 200 and not problems, "; ".join(problems) or f"HTTP {response.status_code}")


def _ehr_launch(report: Report, config: dict, browser: Browser, opts: LaunchOptions, token: str | None,
                patient: str | None) -> None:
    """S.9: the EHR (here: this gateway's launch endpoint, a fhir-gateway extension) creates a
    launch context; the app sends `launch` back; the token carries the EHR's patient."""
    endpoint = urljoin(config["token_endpoint"], "launch")
    if not token or not patient:
        report.add("S.9", "EHR launch with iss and launch", "skip", "no token or patient to launch with")
        return
    created = requests.post(endpoint, timeout=opts.timeout, headers={"Authorization": f"Bearer {token}"},
                            json={"client_id": opts.client_id, "patient": patient})
    if created.status_code == 404:
        report.add("S.9", "EHR launch with iss and launch", "skip", "the server has no launch endpoint at " + endpoint)
        return
    launch = _json(created)
    report.add("S.9", "the EHR side hands out iss (the FHIR base) and launch",
               created.status_code == 201 and launch.get("iss") == browser.base and bool(launch.get("launch")),
               f"HTTP {created.status_code}")
    if not launch.get("launch"):
        return
    verifier, challenge = _pkce()
    state = secrets.token_hex(8)
    params = browser.authorize_params(challenge, EHR_SCOPE, state, launch=launch["launch"])
    location = browser.sign_in(params).headers.get("Location", "")
    query = _query(location)
    body = _json(_exchange(config, opts, query.get("code", ""), verifier)) if query.get("code") else {}
    report.add("S.22", "EHR launch: the token response carries the EHR's patient and an id_token",
               query.get("state") == state and body.get("patient") == patient and bool(body.get("id_token")),
               f"state ok={query.get('state') == state}, patient={body.get('patient')!r}")


def run_launch(report: Report, config: dict, base: str, opts: LaunchOptions, *, token: str | None,
               introspector: tuple[str, str] | None) -> None:
    browser = Browser(config, base, opts)
    report.add("S.15", "the default scopes asked for", "pass", STANDALONE_SCOPE)
    _negative_authorize(report, browser, opts)
    verifier, challenge = _pkce()
    state = secrets.token_hex(12)
    params = browser.authorize_params(challenge, STANDALONE_SCOPE, state, nonce=secrets.token_hex(8))
    first = browser.start(params)
    report.add("S.10", "the authorize request (code, client_id, redirect_uri, scope, state, aud, PKCE S256) "
               "reaches the sign-in page", first.status_code == 200, f"HTTP {first.status_code}")
    final = browser.sign_in(params)
    query = _query(final.headers.get("Location", ""))
    report.add("S.12", "the redirect carries the same state", query.get("state") == state,
               f"HTTP {final.status_code}")
    report.add("S.13", "the redirect carries code and no error", bool(query.get("code")) and "error" not in query,
               query.get("error_description", query.get("error", "")))
    if not query.get("code"):
        return
    wrong = _exchange(config, opts, query["code"], "x" * 43)
    report.add("S.14", "a wrong code_verifier is refused at the token endpoint", wrong.status_code in (400, 401),
               f"HTTP {wrong.status_code}")
    # the failed attempt spent the code (a stolen code cannot be retried): start again
    verifier, challenge = _pkce()
    state = secrets.token_hex(12)
    params = browser.authorize_params(challenge, STANDALONE_SCOPE, state, nonce=secrets.token_hex(8))
    query = _query(browser.sign_in(params).headers.get("Location", ""))
    origin = "https://app.example"
    response = _exchange(config, opts, query.get("code", ""), verifier, origin=origin)
    report.add("S.17", "public client: the token response allows the app's Origin",
               response.headers.get("Access-Control-Allow-Origin") in (origin, "*"))
    body = _token_body_checks(report, "code", response, STANDALONE_SCOPE)
    again = _exchange(config, opts, query.get("code", ""), verifier)
    report.add("S.14", "a code works once", again.status_code in (400, 401), f"HTTP {again.status_code}")
    report.add("S.22", "launch context: patient, id_token and refresh_token present",
               all(body.get(k) for k in ("patient", "id_token", "refresh_token")),
               ", ".join(k for k in ("patient", "id_token", "refresh_token") if not body.get(k)))
    context = body.get("fhirContext")
    context_ok = context is None or (isinstance(context, list) and all(
        isinstance(c, dict) and (("reference" in c and re.match(r"^[A-Z][A-Za-z]+/", c["reference"]) and
                                  _ID.match(c["reference"].split("/", 1)[1])) or
                                 str(c.get("canonical", "")).startswith("http")) for c in context))
    report.add("S.23", "fhirContext, when present, is an array of relative references", bool(context_ok),
               "absent" if context is None else json.dumps(context)[:200])
    capabilities = set(config.get("capabilities", []))
    banner_ok = ("context-banner" not in capabilities or "need_patient_banner" in body) and \
                ("context-style" not in capabilities or "smart_style_url" in body)
    report.add("S.25", "context-banner/context-style capabilities are honoured", banner_ok, " ".join(sorted(capabilities)))
    claims = _id_token_checks(report, config, body, opts)
    if body.get("access_token"):
        _fhir_user_check(report, claims, body["access_token"], opts)
        patient = body.get("patient")
        read = requests.get(f"{base}/Patient/{patient}", timeout=opts.timeout,
                            headers={"Authorization": f"Bearer {body['access_token']}", "Accept": "application/fhir+json"})
        report.add("S.22", "the patient in context can be read with the token", read.status_code == 200,
                   f"HTTP {read.status_code}")
    _introspection_checks(report, config, body, claims, opts, introspector)
    _refresh_checks(report, config, body, opts)
    _ehr_launch(report, config, browser, opts, token, body.get("patient"))
