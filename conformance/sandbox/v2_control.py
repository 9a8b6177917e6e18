"""The sandbox v2 EHR's HTTP control API: see what it received, steer its faults, feed others.

May import: stdlib, flask and the sibling sandbox modules.
  GET  /inbox[?since=<id>]  received messages, oldest first, each with its raw ER7 text
  GET  /patients            the patient table;  GET /appointments  the appointment table
  GET|POST|DELETE /faults   show / arm {"mode", "count", "delay", "text"} / clear
  POST /feed                {"host", "port", "message": str | [str]} -> the ACKs it got
  POST /reset               empty the tables and clear faults
"""
from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from conformance.sandbox.faults import FaultPlan
from conformance.sandbox.v2_feed import feed, parse_feed_request
from conformance.sandbox.v2_store import V2Store


def _inbox_entry(row: dict) -> dict:
    return {"id": row["id"], "received_at": row["received_at"], "type": row["message_type"],
            "control_id": row["control_id"], "ack_code": row["ack_code"],
            "error_text": row["error_text"], "charset": row["charset"], "raw": row["raw"]}


def _json_body():
    body = request.get_json(silent=True, force=True)
    if body is None:
        return None, (jsonify(error="body must be valid JSON"), 400)
    return body, None


def create_control_app(store: V2Store, faults: FaultPlan) -> Flask:
    app = Flask("sandbox_v2_control")
    _table_routes(app, store, faults)
    _fault_and_feed_routes(app, faults)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.description), exc.code

    return app


def _table_routes(app: Flask, store: V2Store, faults: FaultPlan) -> None:
    @app.get("/inbox")
    def inbox():
        since = request.args.get("since", "0")
        if not since.isdigit():
            return jsonify(error="since must be a message id (integer)"), 400
        return jsonify([_inbox_entry(r) for r in store.messages(int(since))])

    @app.get("/patients")
    def patients():
        return jsonify(store.patients())

    @app.get("/appointments")
    def appointments():
        return jsonify(store.appointments())

    @app.post("/reset")
    def reset():
        store.reset()
        faults.clear()
        return "", 204


def _fault_and_feed_routes(app: Flask, faults: FaultPlan) -> None:
    @app.route("/faults", methods=["GET", "POST", "DELETE"])
    def fault_plan():
        if request.method == "DELETE":
            faults.clear()
            return "", 204
        if request.method == "POST":
            body, error = _json_body()
            if error:
                return error
            try:
                faults.arm_from_json(body)
            except ValueError as exc:
                return jsonify(error=str(exc)), 400
        current = faults.current()
        return jsonify(current.to_json() if current else None)

    @app.post("/feed")
    def send_feed():
        body, error = _json_body()
        if error:
            return error
        try:
            host, port, messages, timeout = parse_feed_request(body)
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(results=feed(host, port, messages, timeout=timeout))
