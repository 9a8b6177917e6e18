"""The inbound webhook endpoint outside /fhir: POST /ingest/<backend>/events.

May import: flask, gateway.api.*, gateway.errors. A vendor EHR posts its signed events here
(no bearer token: the signature authenticates the sender). The view reads the body within the
backend's size limit and makes one service call (gateway.sync.events via the container);
every answer, refusals included, is an OperationOutcome.
"""
from __future__ import annotations

from flask import Blueprint, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from gateway.api.responses import fhir_response
from gateway.errors import Issue, PayloadTooLarge, operation_outcome

bp = Blueprint("ingest", __name__, url_prefix="/ingest")


def _read_body(limit: int) -> bytes | None:
    """The raw body, or None when it is larger than `limit` (never read past limit + 1)."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    try:
        body = request.stream.read(limit + 1)
    except RequestEntityTooLarge:  # werkzeug's own limit (max_body_bytes) tripped while reading
        raise PayloadTooLarge("the request body is larger than this server accepts") from None
    return None if len(body) > limit else body


@bp.post("/<string(maxlength=64):backend>/events")
def events(backend: str):
    result = current_app.extensions["fhir_gateway"].ingest.receive(
        backend, request.headers, _read_body, request.remote_addr)
    outcome = operation_outcome([Issue("information", "informational", result.detail)])
    return fhir_response(outcome, result.status, {"X-Ingest-Outcome": result.outcome})
