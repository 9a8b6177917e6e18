"""The sandbox REST EHR's own staff side and its webhook administration, under /_sandbox.

May import: stdlib, flask and the sibling sandbox modules. No auth (like every /_sandbox
route: a test and demo harness on loopback). Staff edits stand for people working in the
vendor's EHR itself: they change records the way the API does, and each change is published
as a webhook event whose origin has no API client.
  POST   /_sandbox/records/<patients|appointments>        create a record (staff registration)
  PATCH  /_sandbox/records/<patients|appointments>/<id>   JSON merge patch (RFC 7396)
  DELETE /_sandbox/records/<patients|appointments>/<id>   delete it
  POST   /_sandbox/webhooks    {"url", "secret", "types"?, "retry_base"?, "retry_max"?,
                                "max_attempts"?, "client_error_attempts"?, "timeout"?} -> 201
  GET    /_sandbox/webhooks    every subscription with its counts (pending, delivered, failed)
  GET|DELETE /_sandbox/webhooks/<id>, GET /_sandbox/webhooks/<id>/deliveries (recent attempts)
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from conformance.sandbox.rest_fields import (PATIENT_FIELDS, PATIENT_REQUIRED, BodyError,
                                             validate)
from conformance.sandbox.rest_routes import _checked_appointment, api_error, merge_patch
from conformance.sandbox.rest_store import DuplicateChartNumber, RestStore
from conformance.sandbox.rest_webhooks import KINDS, WebhookDispatcher


def _record(store: RestStore, table: str, body: object, record_id: str | None = None) -> dict:
    if table == "patients":
        return validate(body, PATIENT_FIELDS, PATIENT_REQUIRED, record_id)
    return _checked_appointment(store, record_id, body)


def create_staff(store: RestStore, webhooks: WebhookDispatcher) -> Blueprint:
    staff = Blueprint("sandbox_staff", __name__, url_prefix="/_sandbox")

    @staff.errorhandler(BodyError)
    def body_error(exc: BodyError):
        return api_error(exc.status, exc.code, exc.message)

    @staff.errorhandler(DuplicateChartNumber)
    def duplicate(_exc):
        return api_error(409, "duplicate_chart_number", "another patient already has this chart_number")

    @staff.url_value_preprocessor
    def known_table(_endpoint, values):
        if values and values.get("table") not in (None, *KINDS):
            raise BodyError(404, "not_found", f"no record kind {values['table']!r}")

    _record_routes(staff, store, webhooks)
    _webhook_routes(staff, webhooks)
    return staff


def _record_routes(staff: Blueprint, store: RestStore, webhooks: WebhookDispatcher) -> None:
    @staff.post("/records/<table>")
    def create(table: str):
        saved = store.create(table, _record(store, table, request.get_json(silent=True, force=True)))
        webhooks.publish(table, None, saved, None)
        return jsonify(saved), 201

    @staff.patch("/records/<table>/<record_id>")
    def patch(table: str, record_id: str):
        current = store.get(table, record_id)
        if current is None:
            return api_error(404, "not_found", f"no record {record_id}")
        merged = merge_patch(current, request.get_json(silent=True, force=True))
        saved = store.replace(table, record_id, _record(store, table, merged, record_id))
        webhooks.publish(table, current, saved, None)
        return jsonify(saved)

    @staff.delete("/records/<table>/<record_id>")
    def delete(table: str, record_id: str):
        current = store.get(table, record_id)
        if current is None or not store.delete(table, record_id):
            return api_error(404, "not_found", f"no record {record_id}")
        webhooks.publish(table, current, None, None)
        return "", 204


def _webhook_routes(staff: Blueprint, webhooks: WebhookDispatcher) -> None:
    @staff.post("/webhooks")
    def subscribe():
        try:
            subscription = webhooks.subscribe(request.get_json(silent=True, force=True))
        except ValueError as exc:
            return api_error(400, "invalid_subscription", str(exc))
        return jsonify(subscription.to_json()), 201

    @staff.get("/webhooks")
    def subscriptions():
        return jsonify([s.to_json() for s in webhooks.all()])

    @staff.route("/webhooks/<subscription_id>", methods=["GET", "DELETE"])
    def subscription(subscription_id: str):
        found = webhooks.get(subscription_id)
        if found is None:
            return api_error(404, "not_found", f"no subscription {subscription_id}")
        if request.method == "DELETE":
            webhooks.unsubscribe(subscription_id)
            return "", 204
        return jsonify(found.to_json())

    @staff.get("/webhooks/<subscription_id>/deliveries")
    def deliveries(subscription_id: str):
        found = webhooks.get(subscription_id)
        if found is None:
            return api_error(404, "not_found", f"no subscription {subscription_id}")
        with found.wake:
            return jsonify(list(found.log))
