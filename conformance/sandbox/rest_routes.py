"""The sandbox REST EHR's resource API under /api/v1: patients and appointments.

May import: stdlib, flask and the sibling sandbox modules. Authentication, rate limiting and
faults are applied before these views run (rest_ehr.py); the views read and write, and each
change is handed to `publish(table, before, after, origin)` (the webhooks, rest_webhooks.py)
with the API client that made it as its origin.
"""
from __future__ import annotations

from typing import Callable

from flask import Blueprint, g, jsonify, request

from conformance.sandbox.rest_fields import (PATIENT_FIELDS, PATIENT_REQUIRED, READ_ONLY,
                                             BodyError, check_date, validate,
                                             validate_appointment)
from conformance.sandbox.rest_store import DuplicateChartNumber, RestStore

MAX_PER_PAGE = 100


def api_error(status: int, code: str, message: str):
    return jsonify({"error": {"code": code, "message": message}}), status


def _body():
    body = request.get_json(silent=True, force=True)
    if body is None:
        raise BodyError(400, "invalid_json", "body must be valid JSON")
    return body


def _int_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise BodyError(400, "invalid_parameter", f"{name} must be an integer from 1 to {maximum}")
    return int(raw)


def _page(table: str, store: RestStore, allowed: dict[str, str]):
    """A page of search results: {"data", "page", "per_page", "total", "next_page"}."""
    unknown = sorted(set(request.args) - set(allowed) - {"page", "per_page"})
    if unknown:
        raise BodyError(400, "unknown_parameter", f"unknown parameter(s): {', '.join(unknown)}")
    filters = {allowed[k]: v for k, v in request.args.items() if k in allowed}
    for date_param in ("date_of_birth", "date"):
        if date_param in request.args:
            check_date(date_param, request.args[date_param], 400)
    page = _int_arg("page", 1, 1_000_000)
    per_page = _int_arg("per_page", 20, MAX_PER_PAGE)
    data, total = store.search(table, filters, page, per_page)
    next_page = page + 1 if page * per_page < total else None
    return jsonify({"data": data, "page": page, "per_page": per_page, "total": total,
                    "next_page": next_page})


Publish = Callable[[str, "dict | None", "dict | None", "str | None"], object]


def merge_patch(current: dict, patch: object) -> dict:
    """JSON merge patch (RFC 7396) of a record: listed fields replace, null removes, the rest
    stays; server-set fields are dropped (the store sets them again)."""
    if not isinstance(patch, dict):
        raise BodyError(400, "invalid_body", "a merge patch must be a JSON object")
    merged = {k: v for k, v in current.items() if k not in READ_ONLY and v is not None}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def create_api(store: RestStore, publish: Publish = lambda *_: None) -> Blueprint:
    api = Blueprint("api_v1", __name__, url_prefix="/api/v1")

    @api.errorhandler(BodyError)
    def body_error(exc: BodyError):
        return api_error(exc.status, exc.code, exc.message)

    @api.errorhandler(DuplicateChartNumber)
    def duplicate(exc: DuplicateChartNumber):
        return api_error(409, "duplicate_chart_number",
                         "another patient already has this chart_number")

    def changed(table: str, before: dict | None, after: dict | None) -> None:
        publish(table, before, after, g.get("client_id"))

    _patient_routes(api, store, changed)
    _appointment_routes(api, store, changed)
    return api


def _patient_routes(api: Blueprint, store: RestStore, changed) -> None:
    @api.post("/patients")
    def create_patient():
        record = store.create("patients", validate(_body(), PATIENT_FIELDS, PATIENT_REQUIRED))
        changed("patients", None, record)
        response = jsonify(record)
        response.status_code = 201
        response.headers["Location"] = f"{request.host_url}api/v1/patients/{record['id']}"
        return response

    @api.get("/patients")
    def search_patients():
        params = {"last_name": "last_name", "first_name": "first_name",
                  "date_of_birth": "date_of_birth", "chart_number": "chart_number"}
        return _page("patients", store, params)

    @api.get("/patients/<patient_id>")
    def read_patient(patient_id: str):
        record = store.get("patients", patient_id)
        return jsonify(record) if record else api_error(404, "not_found", f"no patient {patient_id}")

    @api.put("/patients/<patient_id>")
    def update_patient(patient_id: str):
        record = validate(_body(), PATIENT_FIELDS, PATIENT_REQUIRED, patient_id)
        before = store.get("patients", patient_id)
        saved = store.replace("patients", patient_id, record)
        if saved is None:
            return api_error(404, "not_found", f"no patient {patient_id}")
        changed("patients", before, saved)
        return jsonify(saved)

    @api.patch("/patients/<patient_id>")
    def patch_patient(patient_id: str):
        """JSON merge patch (RFC 7396): listed fields replace, null removes, the rest stays."""
        current = store.get("patients", patient_id)
        if current is None:
            return api_error(404, "not_found", f"no patient {patient_id}")
        merged = merge_patch(current, _body())
        saved = store.replace("patients", patient_id,
                              validate(merged, PATIENT_FIELDS, PATIENT_REQUIRED, patient_id))
        changed("patients", current, saved)
        return jsonify(saved)

    @api.delete("/patients/<patient_id>")
    def delete_patient(patient_id: str):
        before = store.get("patients", patient_id)
        if not store.delete("patients", patient_id):
            return api_error(404, "not_found", f"no patient {patient_id}")
        changed("patients", before, None)
        return "", 204


def _appointment_routes(api: Blueprint, store: RestStore, changed) -> None:
    @api.post("/appointments")
    def create_appointment():
        record = _checked_appointment(store, None)
        saved = store.create("appointments", record)
        changed("appointments", None, saved)
        response = jsonify(saved)
        response.status_code = 201
        response.headers["Location"] = f"{request.host_url}api/v1/appointments/{saved['id']}"
        return response

    @api.get("/appointments")
    def search_appointments():
        return _page("appointments", store,
                     {"patient_id": "patient_id", "date": "day", "status": "status"})

    @api.get("/appointments/<appointment_id>")
    def read_appointment(appointment_id: str):
        record = store.get("appointments", appointment_id)
        return jsonify(record) if record else api_error(404, "not_found",
                                                        f"no appointment {appointment_id}")

    @api.put("/appointments/<appointment_id>")
    def update_appointment(appointment_id: str):
        before = store.get("appointments", appointment_id)
        if before is None:
            return api_error(404, "not_found", f"no appointment {appointment_id}")
        saved = store.replace("appointments", appointment_id,
                              _checked_appointment(store, appointment_id))
        changed("appointments", before, saved)
        return jsonify(saved)


def _checked_appointment(store: RestStore, appointment_id: str | None, body: object = None) -> dict:
    record = validate_appointment(_body() if body is None else body, appointment_id)
    if store.get("patients", record["patient_id"]) is None:
        raise BodyError(422, "unknown_patient", f"patient_id {record['patient_id']} does not exist")
    return record
