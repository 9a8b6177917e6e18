"""SMART checks that need no person at a browser, numbered like
../shared/design/smart-checklist.md (S.<item>): discovery (SMART and OpenID), token response
fields and headers, v1 and v2 scopes, bearer enforcement, introspection, revocation; then the
authorization-code flow through the login form (smart_launch) and Backend Services
(smart_backend) when the run has the credentials for them.

May import: requests, stdlib, conformance.runner.{report,smart_launch,smart_backend}.
"""
from __future__ import annotations

from pathlib import Path

import requests

from conformance.runner.report import Report
from conformance.runner.smart_backend import run_backend
from conformance.runner.smart_launch import LaunchOptions, run_launch


def _discovery(report: Report, http: requests.Session, base: str) -> dict:
    response = http.get(f"{base}/.well-known/smart-configuration", headers={"Accept": "text/html",
                                                                         "Origin": "https://app.example"})
    ok = response.status_code == 200 and response.headers.get("Content-Type", "").startswith("application/json")
    report.add("S.1", "smart-configuration is JSON whatever the Accept header", ok, f"HTTP {response.status_code}")
    config = response.json() if ok else {}
    report.add("S.2", "token_endpoint and capabilities present", isinstance(config.get("token_endpoint"), str)
               and isinstance(config.get("capabilities"), list) and all(isinstance(c, str) for c in config.get("capabilities", [])))
    methods = config.get("code_challenge_methods_supported", [])
    report.add("S.3", "S256 offered, plain not", "S256" in methods and "plain" not in methods, str(methods))
    oidc = "sso-openid-connect" in config.get("capabilities", [])
    report.add("S.4", "issuer present exactly when sso-openid-connect is listed",
               ("issuer" in config) == oidc, f"sso-openid-connect={oidc}")
    urls = [v for k, v in config.items() if k.endswith(("_endpoint", "_uri"))]
    report.add("S.5", "every endpoint URL is absolute", bool(urls) and all(u.startswith("http") for u in urls))
    report.add("S.8", "CORS on the discovery document",
               response.headers.get("Access-Control-Allow-Origin") in ("*", "https://app.example"))
    optional = {k: config[k] for k in ("introspection_endpoint", "management_endpoint", "registration_endpoint",
                                       "revocation_endpoint") if k in config}
    report.add("S.6", "optional endpoints, where listed, are absolute URLs",
               all(isinstance(v, str) and v.startswith("http") for v in optional.values()), ", ".join(optional))
    scopes = set(config.get("scopes_supported", []))
    report.add("S.36", "scopes_supported lists v1 and v2 forms", bool(scopes & {"patient/*.read", "user/*.read",
               "system/*.read"}) and bool(scopes & {"patient/*.rs", "user/*.rs", "system/*.rs"}), " ".join(sorted(scopes)))
    if oidc:
        _openid(report, http, config)
    return config


def _openid(report: Report, http: requests.Session, config: dict) -> None:
    issuer = str(config.get("issuer", "")).rstrip("/")
    response = http.get(f"{issuer}/.well-known/openid-configuration", headers={"Accept": "text/html"})
    document = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
    required = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
                "subject_types_supported", "id_token_signing_alg_values_supported")
    missing = [k for k in required if k not in document]
    report.add("S.26", "openid-configuration has the required fields and RS256",
               response.status_code == 200 and not missing
               and "RS256" in document.get("id_token_signing_alg_values_supported", [])
               and document.get("issuer") == config.get("issuer"), f"missing: {missing}" if missing else "")


def _capability_uris(report: Report, http: requests.Session, base: str, config: dict) -> None:
    statement = http.get(f"{base}/metadata").json()
    extensions = statement.get("rest", [{}])[0].get("security", {}).get("extension", [])
    oauth = next((e for e in extensions if e.get("url", "").endswith("/oauth-uris")), {})
    uris = {e["url"]: e.get("valueUri") for e in oauth.get("extension", [])}
    report.add("S.7", "CapabilityStatement oauth-uris match the discovery document",
               uris.get("token") == config.get("token_endpoint") and
               uris.get("authorize") == config.get("authorization_endpoint"), str(uris))


def _token(report: Report, config: dict, client_id: str, secret: str) -> str | None:
    response = requests.post(config["token_endpoint"], data={"grant_type": "client_credentials"},
                             auth=(client_id, secret), timeout=30)
    body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
    report.add("S.18", "token response has access_token, token_type, expires_in, scope",
               response.status_code == 200 and all(body.get(k) for k in ("access_token", "token_type", "expires_in", "scope")),
               f"HTTP {response.status_code}")
    report.add("S.19", "token fields have the right JSON types", isinstance(body.get("access_token"), str)
               and isinstance(body.get("expires_in"), (int, float)) and isinstance(body.get("scope"), str))
    report.add("S.20", "token_type is Bearer", str(body.get("token_type", "")).lower() == "bearer")
    report.add("S.24", "Cache-Control: no-store and Pragma: no-cache on the token response",
               response.headers.get("Cache-Control") == "no-store" and response.headers.get("Pragma") == "no-cache")
    return body.get("access_token")


def _scope_syntax(report: Report, config: dict, client_id: str, secret: str) -> None:
    """Item 35/36: the same grant asked for in v1 and in v2 syntax."""
    for number, scope in (("S.36", "system/Patient.read"), ("S.35", "system/Patient.rs")):
        response = requests.post(config["token_endpoint"], data={"grant_type": "client_credentials", "scope": scope},
                                 auth=(client_id, secret), timeout=30)
        granted = response.json().get("scope", "") if response.status_code == 200 else ""
        report.add(number, f"scope {scope} is understood and granted", granted == scope,
                   f"HTTP {response.status_code} scope={granted!r}")


def run_smart(report: Report, base: str, client_id: str | None, secret: str | None, options: dict | None = None) -> None:
    options = options or {}
    http = requests.Session()
    config = _discovery(report, http, base)
    _capability_uris(report, http, base, config)
    unauthenticated = http.get(f"{base}/Patient", headers={"Accept": "application/fhir+json"})
    report.add("S.x1", "a FHIR search without a token is 401 with WWW-Authenticate",
               unauthenticated.status_code == 401 and "Bearer" in unauthenticated.headers.get("WWW-Authenticate", ""))
    if not client_id or "token_endpoint" not in config:
        return
    token = _token(report, config, client_id, secret or "")
    _scope_syntax(report, config, client_id, secret or "")
    if config.get("introspection_endpoint"):
        bad = requests.post(config["introspection_endpoint"], data={"token": "not-a-token"},
                            auth=(client_id, secret or ""), timeout=30)
        report.add("S.34", 'introspection of a bad token answers exactly {"active": false}',
                   bad.status_code == 200 and bad.json() == {"active": False})
    if options.get("launch_client_id") and options.get("username"):
        opts = LaunchOptions(options["launch_client_id"], options["redirect_uri"], options["username"],
                             options.get("password") or "", options.get("patient"))
        run_launch(report, config, base, opts, token=token, introspector=(client_id, secret or ""))
    else:
        report.add("S.10", "authorization code flow through the login form", "skip",
                   "no --launch-client-id/--username given")
    if options.get("backend_client_id") and options.get("backend_key"):
        run_backend(report, base, config["token_endpoint"], options["backend_client_id"],
                    Path(options["backend_key"]))
    else:
        report.add("S.37", "SMART Backend Services", "skip", "no --backend-client-id/--backend-key given")
    if token and config.get("revocation_endpoint"):
        requests.post(config["revocation_endpoint"], data={"token": token}, timeout=30)
        revoked = http.get(f"{base}/Patient", headers={"Authorization": f"Bearer {token}"})
        report.add("S.x3", "a revoked token is refused", revoked.status_code == 401, f"HTTP {revoked.status_code}")
