"""Operational endpoints outside the FHIR base: liveness and readiness.

May import: flask, gateway.api.*. /healthz answers while the process lives; /readyz also
proves the database answers (through the service container, never the store directly).
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    container = current_app.extensions["fhir_gateway"]
    ok = container.fhir.ping()
    return jsonify(status="ok" if ok else "unavailable", database=ok), 200 if ok else 503
