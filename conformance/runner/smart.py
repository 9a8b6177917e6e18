"""SMART checks that need no person at a browser, numbered like
../shared/design/smart-checklist.md (S.<item>): discovery, token response fields and headers,
bearer enforcement, introspection of a bad token.

May import: requests, stdlib, conformance.runner.report.
"""
from __future__ import annotations

import requests

from conformance.runner.report import Report


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
    return config


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


def run_smart(report: Report, base: str, client_id: str | None, secret: str | None) -> None:
    http = requests.Session()
    config = _discovery(report, http, base)
    _capability_uris(report, http, base, config)
    unauthenticated = http.get(f"{base}/Patient", headers={"Accept": "application/fhir+json"})
    report.add("S.x1", "a FHIR search without a token is 401 with WWW-Authenticate",
               unauthenticated.status_code == 401 and "Bearer" in unauthenticated.headers.get("WWW-Authenticate", ""))
    if not client_id or "token_endpoint" not in config:
        return
    token = _token(report, config, client_id, secret or "")
    if config.get("introspection_endpoint"):
        bad = requests.post(config["introspection_endpoint"], data={"token": "not-a-token"},
                            auth=(client_id, secret or ""), timeout=30)
        report.add("S.x2", 'introspection of a bad token answers exactly {"active": false}',
                   bad.status_code == 200 and bad.json() == {"active": False})
    if token and config.get("revocation_endpoint"):
        requests.post(config["revocation_endpoint"], data={"token": token}, timeout=30)
        revoked = http.get(f"{base}/Patient", headers={"Authorization": f"Bearer {token}"})
        report.add("S.x3", "a revoked token is refused", revoked.status_code == 401, f"HTTP {revoked.status_code}")
