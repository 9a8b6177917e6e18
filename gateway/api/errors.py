"""The one place errors leave the API: every failure becomes an OperationOutcome.

May import: flask, werkzeug, gateway.errors, stdlib. FhirError -> its status; werkzeug HTTP
errors (unknown route, wrong method, body over the limit, a rate limit: 429 `throttled`, or the
OAuth error shape on /oauth) -> the matching status; anything
unexpected -> 500 with a correlation id, logged without the exception message (which may
carry PHI from the request) but with the traceback's code locations.
"""
from __future__ import annotations

import logging
import traceback
import uuid

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from gateway.api.responses import fhir_response
from gateway.errors import FhirError, Issue, operation_outcome
from gateway.services.audit import Agent

log = logging.getLogger("gateway.api")

_WERKZEUG_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported",
                   406: "not-supported", 400: "invalid", 401: "login", 403: "forbidden",
                   429: "throttled"}


def _audit_refusal(status: int, description: str) -> None:
    """Calls refused before reaching a service (bad body, media type, size) are audited too."""
    if not request.path.startswith(("/fhir", "/admin")) or "/metadata" in request.path \
            or "/.well-known" in request.path:
        return
    container = current_app.extensions.get("fhir_gateway")
    if container is not None:
        interaction = {"GET": "read", "POST": "create", "PUT": "update", "DELETE": "delete"}.get(
            request.method, "unknown")
        container.fhir.audit_only(Agent(address=request.remote_addr), interaction, status,
                                  description=description[:200])


def _render_fhir_error(exc: FhirError):
    if not getattr(exc, "audited", False):
        _audit_refusal(exc.status, exc.diagnostics)
    return fhir_response(exc.outcome(), exc.status, exc.headers)


def _render_throttled_oauth(exc: HTTPException):
    """A rate limit on /oauth answers in the OAuth error shape the client already parses
    (RFC 6749 5.2 fields; `slow_down` as RFC 8628 3.5 names "polling too fast")."""
    response = jsonify(error="slow_down", error_description=f"Too many requests ({exc.description}); "
                       "retry after the Retry-After delay")
    response.status_code = 429
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_http_error(exc: HTTPException):
    status = exc.code or 500
    if status == 429 and request.path.startswith("/oauth/"):
        return _render_throttled_oauth(exc)
    if isinstance(exc, RequestEntityTooLarge):
        text = "The request body is larger than this server accepts"
    elif isinstance(exc, MethodNotAllowed):
        text = f"{request.method} is not allowed on {request.path}"
    elif status == 404:
        text = f"No FHIR endpoint at {request.path}"
    elif status == 429:  # gateway.api.limits: the description is the limit ("600 per 1 minute") only
        text = f"Too many requests: the limit is {exc.description}; retry after the Retry-After delay"
    else:
        text = exc.description or exc.name
    headers = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    if status in (413, 415):
        _audit_refusal(status, text)
    issue = Issue("error", _WERKZEUG_CODES.get(status, "exception"), text)
    return fhir_response(operation_outcome([issue]), status, headers)


def _render_unexpected(exc: Exception):
    correlation = uuid.uuid4().hex
    # Only code locations and the exception type: messages may quote request data (PHI).
    frames = "\n".join(f"  {f.filename}:{f.lineno} in {f.name}"
                       for f in traceback.extract_tb(exc.__traceback__))
    log.error("unexpected error %s: %s on %s %s\n%s", correlation, type(exc).__name__,
              request.method, request.path, frames)
    issue = Issue("fatal", "exception",
                  f"Unexpected server error; quote correlation id {correlation} to the operator")
    return fhir_response(operation_outcome([issue], outcome_id=correlation), 500,
                         {"X-Correlation-Id": correlation})


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(FhirError, _render_fhir_error)
    app.register_error_handler(HTTPException, _render_http_error)
    app.register_error_handler(Exception, _render_unexpected)
