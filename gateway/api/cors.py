"""CORS for browser apps (SMART JS client, fhir-kit-client): preflights and response headers.

May import: flask. The FHIR API and the OAuth endpoints authenticate with bearer tokens or
client credentials in the body, never cookies, so any origin may call them
(Access-Control-Allow-Origin echoes the Origin, no Allow-Credentials; Fetch standard 3.2).
A preflight (OPTIONS with Access-Control-Request-Method) is answered here, before the token
guard, because browsers send preflights without the Authorization header.
"""
from __future__ import annotations

from flask import Flask, Response, request

_PATHS = ("/fhir", "/oauth/token", "/oauth/introspect", "/oauth/revoke", "/oauth/jwks")
_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
_REQUEST_HEADERS = ("authorization", "content-type", "accept", "if-match", "if-none-exist",
                    "if-none-match", "if-modified-since", "prefer", "x-request-id")
_EXPOSED = "Location, ETag, Last-Modified, Content-Location, WWW-Authenticate, X-Correlation-Id, X-Delivery-Status"


def _covered() -> bool:
    return request.path.startswith(_PATHS)


def _preflight() -> Response | None:
    if request.method != "OPTIONS" or not _covered() or not request.headers.get("Origin") \
            or not request.headers.get("Access-Control-Request-Method"):
        return None
    asked = [h.strip().lower() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")
             if h.strip()]
    response = Response(status=204)
    response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
    response.headers["Access-Control-Allow-Methods"] = _METHODS
    response.headers["Access-Control-Allow-Headers"] = ", ".join(h for h in asked if h in _REQUEST_HEADERS) \
        or "authorization, content-type"
    response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Vary"] = "Origin"
    return response


def _headers(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin and _covered():
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = _EXPOSED
        response.vary.add("Origin")
    return response


def init_cors(app: Flask) -> None:
    """Install before the token guard, so preflights never meet it."""
    app.before_request(_preflight)
    app.after_request(_headers)
