"""The staff API over the delivery outbox (/admin/outbox): inspect it, replay or discard dead letters.

May import: flask, gateway.api.*, gateway.errors, gateway.services (via the app's container).
Guarded like every `admin_*` blueprint (gateway.auth: bearer token, role integration_admin);
answers plain JSON, errors as OperationOutcome through the app's one handler. Every call is
audited by the service (rows name patients' resources; the EHR's reasons may quote data).
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from gateway.api.caller import caller
from gateway.api.negotiation import json_body
from gateway.errors import BadRequest

bp = Blueprint("admin_outbox", __name__, url_prefix="/admin/outbox")


def _letters():
    return current_app.extensions["fhir_gateway"].dead_letters


def _int_arg(name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise BadRequest(f"{name} must be a positive integer, got {raw!r}", expression=(name,))
    return int(raw)


def _body() -> dict:
    """An optional JSON object body (an empty body is an empty object)."""
    if not request.get_data(cache=True):
        return {}
    body = json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


@bp.get("")
def page() -> Response:
    return jsonify(_letters().page(caller(), status=request.args.get("status") or None,
                                   backend=request.args.get("backend") or None,
                                   before=_int_arg("before", None), limit=_int_arg("limit", 50)))


@bp.get("/<int:pk>")
def show(pk: int) -> Response:
    return jsonify(_letters().show(caller(), pk))


@bp.post("/<int:pk>/replay")
def replay(pk: int) -> Response:
    return jsonify(_letters().replay(caller(), pk))


@bp.post("/replay")
def replay_all() -> Response:
    backend = _body().get("backend")
    if backend is not None and not isinstance(backend, str):
        raise BadRequest("backend must be a string", expression=("backend",))
    return jsonify(_letters().replay_all(caller(), backend))


@bp.post("/<int:pk>/discard")
def discard(pk: int) -> Response:
    reason = _body().get("reason", "")
    if not isinstance(reason, str):
        raise BadRequest("reason must be a string", expression=("reason",))
    return jsonify(_letters().discard(caller(), pk, reason))
