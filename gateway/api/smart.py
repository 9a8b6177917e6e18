"""SMART and OpenID discovery and the OAuth 2.0 endpoints: token, introspection, revocation,
JWKS, and the EHR-launch context endpoint.

May import: flask, gateway.auth, gateway.services.audit. Discovery (SMART App Launch 2.x
conformance.md) answers JSON whatever the Accept header, with CORS; `issuer` is listed because
sso-openid-connect is, and {issuer}/.well-known/openid-configuration (OIDC Discovery 1.0 3)
answers too. Token responses carry Cache-Control: no-store and Pragma: no-cache (RFC 6749
5.1). Grants: authorization_code (standalone and EHR launch, PKCE S256), refresh_token,
client_credentials (client_secret_basic or private_key_jwt).
"""
from __future__ import annotations

import base64
from urllib.parse import unquote, urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from gateway.auth import fhir_base_url
from gateway.auth.access import Access
from gateway.auth.backend_services import token_with_assertion
from gateway.auth.launch import LAUNCH_LIFETIME, LaunchService
from gateway.auth.scopes import allowed
from gateway.auth.tokens import AuthError, issued_claims, unverified_segment
from gateway.errors import FhirError
from gateway.services.audit import Agent

bp = Blueprint("smart", __name__)


def _auth():
    return current_app.extensions["fhir_gateway"].auth


def _server_root() -> str:
    return fhir_base_url().rsplit("/fhir", 1)[0]


SCOPES_SUPPORTED = ["openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access",
                    "patient/*.rs", "patient/*.cruds", "patient/*.read", "patient/*.write", "patient/*.*",
                    "user/*.rs", "user/*.cruds", "user/*.read", "user/*.write", "user/*.*",
                    "system/*.rs", "system/*.cruds", "system/*.read", "system/*.write", "system/*.*"]


def smart_configuration() -> dict:
    root = _server_root()
    return {
        "issuer": fhir_base_url(),
        "authorization_endpoint": f"{root}/oauth/authorize",
        "token_endpoint": f"{root}/oauth/token",
        "introspection_endpoint": f"{root}/oauth/introspect",
        "revocation_endpoint": f"{root}/oauth/revoke",
        "jwks_uri": f"{root}/oauth/jwks",
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": ["launch-ehr", "launch-standalone", "client-public",
                         "client-confidential-symmetric", "client-confidential-asymmetric",
                         "context-ehr-patient", "context-standalone-patient",
                         "sso-openid-connect", "permission-offline", "permission-online",
                         "permission-patient", "permission-user",
                         "permission-v1", "permission-v2"],
    }


def openid_configuration() -> dict:
    smart = smart_configuration()
    return {
        "issuer": smart["issuer"],
        "authorization_endpoint": smart["authorization_endpoint"],
        "token_endpoint": smart["token_endpoint"],
        "jwks_uri": smart["jwks_uri"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser"],
        "grant_types_supported": smart["grant_types_supported"],
        "token_endpoint_auth_methods_supported": smart["token_endpoint_auth_methods_supported"],
        "code_challenge_methods_supported": ["S256"],
    }


def _discovery(document: dict) -> Response:
    response = jsonify(document)  # JSON whatever the Accept header says (checklist item 1)
    response.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin", "*")
    return response


@bp.get("/fhir/.well-known/smart-configuration")
def well_known() -> Response:
    return _discovery(smart_configuration())


@bp.get("/fhir/.well-known/openid-configuration")
def openid_well_known() -> Response:
    return _discovery(openid_configuration())


@bp.get("/oauth/jwks")
def jwks() -> Response:
    response = jsonify(_auth().jwks())
    response.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin", "*")
    return response


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _oauth_error(exc: AuthError) -> Response:
    response = jsonify(error=exc.error, error_description=exc.description)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return _no_store(response)


def _basic_credentials() -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        raise AuthError("invalid_client", "client_secret_basic authentication is required", 401)
    try:
        client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise AuthError("invalid_client", "malformed Basic credentials", 401) from None
    return unquote(client_id), unquote(secret)  # RFC 6749 2.3.1: form-urlencoded then base64


@bp.post("/oauth/token")
def token() -> Response:
    grant = request.form.get("grant_type")
    try:
        if grant == "client_credentials" and request.form.get("client_assertion"):
            body = token_with_assertion(_auth(), request.form.to_dict(),
                                        smart_configuration()["token_endpoint"], fhir_base_url())
        elif grant == "client_credentials":
            client_id, secret = _basic_credentials()
            body = _auth().client_credentials(client_id, secret, request.form.get("scope"), fhir_base_url())
        elif grant in ("authorization_code", "refresh_token"):
            basic = _basic_credentials() if request.headers.get("Authorization") else None
            launch = LaunchService(_auth())
            handler = launch.exchange if grant == "authorization_code" else launch.refresh
            body = handler(request.form.to_dict(), basic, fhir_base_url())
        else:
            raise AuthError("unsupported_grant_type",
                            "use authorization_code, refresh_token or client_credentials")
    except AuthError as exc:
        _audit_token(grant, exc.status, None, f"token refused: {exc.error}: {exc.description}")
        return _oauth_error(exc)
    _audit_token(grant, 200, body, f"token issued ({grant})")
    # SMART 2.2: public browser apps read the token response cross-origin (gateway.api.cors)
    return _no_store(jsonify(body))


def _claimed_client() -> str:
    """Who the refused caller said it was (not verified: it was refused), for the audit trail."""
    if request.headers.get("Authorization", "").lower().startswith("basic "):
        try:
            return _basic_credentials()[0] or "unknown"
        except AuthError:
            return "unknown"
    if request.form.get("client_assertion"):
        claims = unverified_segment(request.form["client_assertion"], 1) or {}
        return str(claims.get("iss", "unknown"))[:64]
    return request.form.get("client_id", "unknown")[:64]


def _audit_token(grant: str | None, status: int, body: dict | None, description: str) -> None:
    """Every token request leaves an AuditEvent (HIPAA 164.312(b); refused ones too: reused
    codes, replayed assertions, bad secrets), as a DICOM "User Authentication" event."""
    client_id, user, patient = _claimed_client(), None, None
    if body is not None:  # just signed here: read it, a second RS256 check would prove nothing
        claims = issued_claims(body["access_token"])
        client_id, user, patient = claims.client_id, claims.user, claims.patient
    agent = Agent(client_id=client_id, user=user, address=request.remote_addr)
    refs = (f"Patient/{patient}",) if patient else ()
    current_app.extensions["fhir_gateway"].fhir.audit_only(agent, "login", status, refs,
                                                           description=description[:500])


@bp.post("/oauth/introspect")
def introspect() -> Response:
    try:
        _auth().authenticate_client(*_basic_credentials())
    except AuthError as exc:
        return _oauth_error(exc)
    return _no_store(jsonify(_auth().introspect(request.form.get("token", ""), fhir_base_url())))


@bp.post("/oauth/revoke")
def revoke() -> Response:
    _auth().revoke(request.form.get("token", ""), fhir_base_url())
    return _no_store(Response("", 200))


@bp.post("/oauth/launch")
def create_launch() -> Response:
    """The EHR side of an EHR launch: a caller whose token may read the patient creates a
    launch context for one app and gets the `launch` value and `iss` to open the app with
    (SMART app-launch.md#launch-app-ehr-launch). The patient read is audited as that caller."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("invalid_token", "a Bearer access token is required", 401)
        claims = _auth().verify(token.strip(), fhir_base_url())
        form = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        if not isinstance(form, dict) or not form.get("client_id") or not form.get("patient"):
            raise AuthError("invalid_request", "client_id and patient are required")
        access = Access.of(claims.client_id, claims.role, claims.scope, claims.patient, claims.user)
        if access.role == "auditor" or not allowed(list(access.scopes), "Patient", "read"):
            raise AuthError("insufficient_scope", "this token may not read Patients", 403)
        if access.patient and access.patient != form["patient"]:
            raise AuthError("insufficient_scope", "this token is confined to another patient", 403)
        container = current_app.extensions["fhir_gateway"]
        try:
            container.fhir.read("Patient", str(form["patient"]), agent=Agent(
                client_id=claims.client_id, user=claims.user, role=claims.role, address=request.remote_addr))
        except FhirError as exc:
            raise AuthError("invalid_request", f"patient: {exc.diagnostics}", exc.status) from None
        launch = LaunchService(_auth()).create_launch(str(form["client_id"]), str(form["patient"]),
                                                      form.get("user") or None)
    except AuthError as exc:
        return _oauth_error(exc)
    body = {"launch": launch, "iss": fhir_base_url(), "patient": form["patient"],
            "expires_in": int(LAUNCH_LIFETIME.total_seconds())}
    if form.get("launch_url"):
        separator = "&" if "?" in form["launch_url"] else "?"
        body["launch_url"] = f"{form['launch_url']}{separator}{urlencode({'iss': body['iss'], 'launch': launch})}"
    response = jsonify(body)
    response.status_code = 201
    return _no_store(response)
