"""SMART discovery and the OAuth 2.0 endpoints: token, introspection, revocation, JWKS.

May import: flask, gateway.auth. Discovery (SMART App Launch 2.x conformance.md) answers JSON
whatever the Accept header; token responses carry Cache-Control: no-store and Pragma:
no-cache (RFC 6749 5.1). Grants: authorization_code (standalone launch) and
client_credentials. The
EHR launch (`launch`), refresh tokens and OpenID Connect are not built yet, and discovery
lists only what is (standalone launch with PKCE, client credentials).
"""
from __future__ import annotations

import base64
from urllib.parse import unquote

from flask import Blueprint, Response, current_app, jsonify, request

from gateway.auth import fhir_base_url
from gateway.auth.backend_services import token_with_assertion
from gateway.auth.launch import LaunchService
from gateway.auth.tokens import AuthError

bp = Blueprint("smart", __name__)


def _auth():
    return current_app.extensions["fhir_gateway"].auth


def _server_root() -> str:
    return fhir_base_url().rsplit("/fhir", 1)[0]


def smart_configuration() -> dict:
    root = _server_root()
    return {
        "authorization_endpoint": f"{root}/oauth/authorize",
        "token_endpoint": f"{root}/oauth/token",
        "introspection_endpoint": f"{root}/oauth/introspect",
        "revocation_endpoint": f"{root}/oauth/revoke",
        "jwks_uri": f"{root}/oauth/jwks",
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "scopes_supported": ["system/*.cruds", "system/*.rs", "user/*.cruds", "user/*.rs",
                             "system/*.read", "system/*.write", "system/*.*"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": ["launch-standalone", "client-public", "client-confidential-symmetric",
                         "client-confidential-asymmetric",
                         "context-standalone-patient", "permission-offline", "permission-online",
                         "permission-patient", "permission-user",
                         "permission-v1", "permission-v2"],
    }


@bp.get("/fhir/.well-known/smart-configuration")
def well_known() -> Response:
    response = jsonify(smart_configuration())
    response.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin", "*")
    return response


@bp.get("/oauth/jwks")
def jwks() -> Response:
    return jsonify(_auth().jwks())


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
            raise AuthError("unsupported_grant_type", "use authorization_code or client_credentials")
    except AuthError as exc:
        response = _oauth_error(exc)
        _cors(response)
        return response
    response = _no_store(jsonify(body))
    _cors(response)  # SMART 2.2: public browser apps read the token response cross-origin
    return response


def _cors(response: Response) -> None:
    if request.headers.get("Origin"):
        response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]


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
