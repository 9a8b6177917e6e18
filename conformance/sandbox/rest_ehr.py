"""The sandbox vendor REST EHR: a Flask app with OAuth2 client credentials, the /api/v1
resource API, a per-client rate limit, fault injection and a request log; served on loopback.

May import: stdlib, flask/werkzeug and the sibling sandbox modules.
  POST /oauth/token                    client_credentials (client_secret_basic or _post)
  /api/v1/patients, /api/v1/appointments (rest_routes.py), Bearer token required
  POST /api/v1/eligibility             insurance eligibility (rest_eligibility.py)
  /openemr/apis/default/api/... the OpenEMR-style dialect (rest_openemr.py), same tokens,
                                       issued also at /openemr/oauth2/default/token
  POST|GET|DELETE /_sandbox/faults     {"mode": "500"|"timeout"|"429", "count", "delay"}
  GET|DELETE /_sandbox/requests        what it received (method, path, query, body, status)
  GET|POST /_sandbox/config            {"token_ttl", "rate_limit", "rate_window"}
  DELETE /_sandbox/tokens              revoke every token (clients must fetch a new one)
  GET /_sandbox/records                every stored record, no auth (for demos)
  POST|PATCH|DELETE /_sandbox/records/<kind>[/<id>]   staff edits in the EHR itself
  /_sandbox/webhooks                   webhook subscriptions (rest_staff.py, rest_webhooks.py):
                                       every change, by the API or by staff, is a signed event
  GET|POST /_sandbox/plans             the eligibility plan catalogue / add {group: plan}
  POST /_sandbox/reset                 empty the store, log, faults, rate windows, webhooks
                                       and eligibility checks
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from conformance.sandbox.faults import FaultPlan
from conformance.sandbox.http_thread import WsgiThread
from conformance.sandbox.rest_openemr import TOKEN_PATH as OPENEMR_TOKEN_PATH
from conformance.sandbox.rest_openemr import PREFIX as OPENEMR_PREFIX
from conformance.sandbox.rest_openemr import create_openemr_api
from conformance.sandbox.rest_openemr_store import OpenEmrStore
from conformance.sandbox.rest_auth import RestConfig, TokenError, TokenIssuer, client_from_request
from conformance.sandbox.rest_eligibility import EligibilityDesk, create_eligibility_api
from conformance.sandbox.rest_fields import BodyError
from conformance.sandbox.rest_routes import api_error, create_api
from conformance.sandbox.rest_staff import create_staff
from conformance.sandbox.rest_store import RestStore
from conformance.sandbox.rest_webhooks import WebhookDispatcher

REST_FAULT_MODES = ("500", "timeout", "429")
REQUEST_LOG_SIZE = 2000


@dataclass
class RestState:
    """Everything one REST sandbox holds; the app reads it, tests may too."""

    store: RestStore
    config: RestConfig
    issuer: TokenIssuer
    openemr: OpenEmrStore = field(default_factory=OpenEmrStore)
    eligibility: EligibilityDesk = field(default_factory=EligibilityDesk)
    faults: FaultPlan = field(default_factory=lambda: FaultPlan(REST_FAULT_MODES, 2.0))
    requests: collections.deque = field(default_factory=lambda: collections.deque(maxlen=REQUEST_LOG_SIZE))
    lock: threading.Lock = field(default_factory=threading.Lock)
    webhooks: WebhookDispatcher = field(default_factory=WebhookDispatcher)


def _token_endpoint(state: RestState):
    """RFC 6749 4.4.2-4.4.3: form-encoded request, JSON answer, never cached (5.1)."""
    try:
        client_id, secret = client_from_request(request.headers.get("Authorization"),
                                                request.form.to_dict())
        body = state.issuer.issue(client_id, secret, request.form.get("grant_type"),
                                  request.form.get("scope"))
        status = 200
    except TokenError as exc:
        body, status = {"error": exc.error, "error_description": exc.description}, exc.status
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="sandbox"'
    return response


def _guard_api(state: RestState):
    """Faults, then bearer auth (RFC 6750 section 3), then the rate limit, for /api only."""
    if not request.path.startswith(("/api/", OPENEMR_PREFIX + "/")):
        return None
    fault = state.faults.take()
    if fault is not None:
        return _faulted(fault)
    client_id = state.issuer.client_for(request.headers.get("Authorization"))
    if client_id is None:
        response, status = api_error(401, "invalid_token", "a valid Bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="sandbox", error="invalid_token"'
        return response, status
    g.client_id = client_id
    wait = state.issuer.rate_limited(client_id)
    if wait is not None:
        response, status = api_error(429, "rate_limited", f"rate limit exceeded; retry in {wait}s")
        response.headers["Retry-After"] = str(wait)
        return response, status
    return None


def _faulted(fault):
    if fault.mode == "timeout":
        time.sleep(fault.delay)  # the client should have given up by now
        return api_error(504, "timeout", fault.text or "sandbox fault: upstream timeout")
    if fault.mode == "429":
        response, status = api_error(429, "rate_limited", fault.text or "sandbox fault: 429")
        response.headers["Retry-After"] = str(max(1, round(fault.delay)))
        return response, status
    return api_error(500, "internal_error", fault.text or "sandbox fault: internal error")


def _log_request(state: RestState, response):
    if request.path.startswith("/_sandbox/"):
        return response
    body = request.get_json(silent=True) if request.mimetype == "application/json" else None
    entry = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
             "method": request.method, "path": request.path, "query": request.args.to_dict(),
             "body": body, "status": response.status_code,
             "client_id": g.get("client_id")}
    with state.lock:
        state.requests.append(entry)
    return response


def create_rest_app(state: RestState) -> Flask:
    app = Flask("sandbox_rest_ehr")
    app.register_blueprint(create_api(state.store, state.webhooks.publish))
    app.register_blueprint(create_staff(state.store, state.webhooks))
    app.register_blueprint(create_eligibility_api(state.store, state.eligibility))
    app.register_blueprint(create_openemr_api(state.openemr))
    app.add_url_rule("/oauth/token", "token", lambda: _token_endpoint(state), methods=["POST"])
    app.add_url_rule(OPENEMR_TOKEN_PATH, "openemr_token", lambda: _token_endpoint(state), methods=["POST"])
    app.before_request(lambda: _guard_api(state))
    app.after_request(lambda response: _log_request(state, response))
    _add_sandbox_routes(app, state)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return api_error(exc.code or 500, code, exc.description or "")

    return app


def _add_sandbox_routes(app: Flask, state: RestState) -> None:
    @app.route("/_sandbox/faults", methods=["GET", "POST", "DELETE"])
    def faults():
        if request.method == "DELETE":
            state.faults.clear()
            return "", 204
        if request.method == "POST":
            try:
                state.faults.arm_from_json(request.get_json(silent=True, force=True))
            except ValueError as exc:
                return api_error(400, "invalid_fault", str(exc))
        current = state.faults.current()
        return jsonify(current.to_json() if current else None)

    _add_state_routes(app, state)


def _add_state_routes(app: Flask, state: RestState) -> None:
    @app.route("/_sandbox/requests", methods=["GET", "DELETE"])
    def request_log():
        with state.lock:
            if request.method == "DELETE":
                state.requests.clear()
                return "", 204
            return jsonify(list(state.requests))

    @app.route("/_sandbox/config", methods=["GET", "POST"])
    def config():
        if request.method == "POST":
            error = _update_config(state, request.get_json(silent=True, force=True))
            if error:
                return api_error(400, "invalid_config", error)
        c = state.config
        return jsonify(client_id=c.client_id, token_ttl=c.token_ttl, rate_limit=c.rate_limit,
                       rate_window=c.rate_window)

    @app.delete("/_sandbox/tokens")
    def revoke_tokens():
        state.issuer.revoke_all()
        return "", 204

    @app.get("/_sandbox/records")
    def records():
        return jsonify(patients=state.store.all("patients"),
                       appointments=state.store.all("appointments"),
                       eligibility_checks=state.eligibility.checks,
                       openemr={kind: state.openemr.all(kind)
                                for kind in ("patient", "appointment", "insurance")})

    @app.route("/_sandbox/plans", methods=["GET", "POST"])
    def plans():
        if request.method == "POST":
            try:
                state.eligibility.set_plans(request.get_json(silent=True, force=True))
            except BodyError as exc:
                return api_error(exc.status, exc.code, exc.message)
        return jsonify(state.eligibility.plans)

    @app.post("/_sandbox/reset")
    def reset():
        state.store.reset()
        state.openemr.reset()
        state.eligibility.reset()
        state.faults.clear()
        state.issuer.reset_limits()
        state.webhooks.stop()
        with state.lock:
            state.requests.clear()
        return "", 204


def _update_config(state: RestState, body: object) -> str | None:
    """Apply {"token_ttl", "rate_limit", "rate_window"}; the problem as text, or None."""
    if not isinstance(body, dict) or set(body) - {"token_ttl", "rate_limit", "rate_window"}:
        return "body must be an object with token_ttl, rate_limit and/or rate_window"
    ttl, limit, window = (body.get(k, getattr(state.config, k))
                          for k in ("token_ttl", "rate_limit", "rate_window"))
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        return "token_ttl must be an integer >= 1"
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        return "rate_limit must be an integer >= 1 or null"
    if not isinstance(window, (int, float)) or isinstance(window, bool) or window <= 0:
        return "rate_window must be a positive number of seconds"
    state.config.token_ttl, state.config.rate_limit = ttl, limit
    state.config.rate_window = float(window)
    state.issuer.reset_limits()
    return None


class RestEhr:
    """`RestEhr(host, port=0, data_dir=None, config=RestConfig()).start()`; then `.url`
    (root), `.api_url` (".../api/v1"), `.token_url`, `.openemr_url`, `.openemr_token_url`;
    `.stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data_dir: str | Path | None = None,
                 config: RestConfig | None = None) -> None:
        self.host, self._port = host, port
        config = config or RestConfig()
        store = RestStore(Path(data_dir) / "rest_ehr.sqlite3" if data_dir else None)
        openemr = OpenEmrStore(Path(data_dir) / "rest_openemr.sqlite3" if data_dir else None)
        self.state = RestState(store, config, TokenIssuer(config), openemr=openemr)
        self.server: WsgiThread | None = None

    def start(self) -> "RestEhr":
        app = create_rest_app(self.state)
        self.server = WsgiThread(app, self.host, self._port, name="sandbox-rest").start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.state.webhooks.stop()
        self.state.store.close()
        self.state.openemr.close()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"

    @property
    def openemr_url(self) -> str:
        """The OpenEMR-style API root (a profile's paths start with /api/...)."""
        return self.url + OPENEMR_PREFIX.rsplit("/api", 1)[0]

    @property
    def openemr_token_url(self) -> str:
        return self.url + OPENEMR_TOKEN_PATH

    def __enter__(self) -> "RestEhr":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
