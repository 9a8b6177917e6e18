"""The duplicate-patient review queue for staff (blueprint admin_review, under /admin/review).

May import: flask, gateway.api.*, gateway.auth.access, gateway.services. The token guard
(gateway.auth) protects every admin_* blueprint: a bearer token of role integration_admin.
Errors leave as OperationOutcome through the app's handler; answers are plain JSON. Views:
parse -> one ReviewQueue call -> respond (the queue audits each call: it shows PHI).
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from gateway.api.caller import caller
from gateway.api.negotiation import json_body
from gateway.auth import fhir_base_url
from gateway.services.match_review import ReviewQueue

bp = Blueprint("admin_review", __name__, url_prefix="/admin/review")


def _queue() -> ReviewQueue:
    container = current_app.extensions["fhir_gateway"]
    return ReviewQueue(container.fhir, "merge" in container.operations.get("Patient", ()))


_agent = caller  # who is calling, as the FHIR views record it
_base_url = fhir_base_url


@bp.get("")
def list_items() -> Response:
    return jsonify(_queue().list(request.args.to_dict(), _agent()))


@bp.get("/<int:review_id>")
def show(review_id: int) -> Response:
    return jsonify(_queue().show(review_id, _agent()))


@bp.post("/<int:review_id>/resolve")
def resolve(review_id: int) -> Response:
    return jsonify(_queue().resolve(review_id, json_body(request), _agent(), base_url=_base_url()))
