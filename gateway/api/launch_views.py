"""The authorize step a person sees: staff login, then (for launch/patient) a patient picker.

May import: flask, itsdangerous, gateway.auth, gateway.services.audit. Between the two pages the
login travels as a signed ticket valid 5 minutes, so the password is asked once and never kept.
Errors before the client and redirect_uri are verified are shown here; after, they go back to
the app's redirect_uri with `error` and the same `state` (RFC 6749 4.1.2.1).
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, redirect, render_template_string, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from gateway.auth import fhir_base_url
from gateway.auth.launch import LaunchService, RedirectError
from gateway.auth.tokens import AuthError
from gateway.services.audit import Agent

bp = Blueprint("launch", __name__)

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>fhir-gateway sign-in</title></head>
<body><h1>{{ title }}</h1>{% if error %}<p role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}">
{% for k, v in hidden.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}
{% if patients is none %}
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
{% else %}<label>Patient <select name="patient">{% for p in patients %}
<option value="{{ p.id }}">{{ p.label }}</option>{% endfor %}</select></label>{% endif %}
<button type="submit">Continue</button></form></body></html>"""
_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "aud", "launch", "nonce",
           "code_challenge", "code_challenge_method")


def _launch() -> LaunchService:
    return LaunchService(current_app.extensions["fhir_gateway"].auth)


def _tickets() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.extensions["fhir_gateway"].auth.ticket_secret(), "login")


def _page(title: str, hidden: dict, *, patients=None, error: str = "", status: int = 200,
          action: str | None = None) -> Response:
    html = render_template_string(_PAGE, title=title, hidden=hidden, patients=patients, error=error,
                                  action=action or request.path)
    return Response(html, status=status, mimetype="text/html",
                    headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


def _back(redirect_uri: str, **params) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{separator}{urlencode({k: v for k, v in params.items() if v})}")


def _audit(status: int, description: str, *, client_id: str = "", user: str | None = None,
           patient: str | None = None) -> None:
    """The authorize step's outcomes in the audit trail (refused requests, failed sign-ins,
    codes issued), as DICOM "User Authentication" events; passwords are never recorded."""
    agent = Agent(client_id=client_id[:64] or "unknown", user=user, address=request.remote_addr)
    current_app.extensions["fhir_gateway"].fhir.audit_only(
        agent, "login", status, (f"Patient/{patient}",) if patient else (), description=description[:500])


def _checked(args: dict):
    try:
        return _launch().check_request(args, fhir_base_url()), None
    except RedirectError as exc:
        _audit(400, f"authorize refused: {exc.error}: {exc.description}", client_id=args.get("client_id", ""))
        return None, _back(args["redirect_uri"], error=exc.error, error_description=exc.description,
                           state=args.get("state", ""))
    except AuthError as exc:
        _audit(400, f"authorize refused: {exc.error}: {exc.description}", client_id=args.get("client_id", ""))
        return None, _page("Cannot sign in", {}, error=exc.description, status=400)


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    source = request.args if request.method == "GET" else request.form
    args = {k: source.get(k, "") for k in _PARAMS if k in source}
    authz, failure = _checked(args)
    if failure is not None:
        return failure
    if request.method == "GET":
        return _page("Sign in to authorize the app", args)
    try:
        role = _launch().verify_user(request.form.get("username", ""), request.form.get("password", ""))
    except AuthError as exc:
        _audit(401, "sign-in failed at the authorize step", client_id=authz.client_id,
               user=request.form.get("username", "")[:64] or None)
        return _page("Sign in to authorize the app", args, error=exc.description, status=401)
    username = request.form["username"]
    if not authz.wants_patient:
        return _finish(authz, username, role, None)
    ticket = _tickets().dumps({"args": args, "user": username, "role": role})
    # the picker posts to its own endpoint (a browser follows the form's action, not the URL)
    return _page("Choose the patient", {"ticket": ticket}, patients=_patients(username, role),
                 action="/oauth/authorize/patient")


@bp.post("/oauth/authorize/patient")
def choose_patient() -> Response:
    try:
        login = _tickets().loads(request.form.get("ticket", ""), max_age=300)
    except BadSignature:
        return _page("Cannot sign in", {}, error="the sign-in expired; start again", status=400)
    authz, failure = _checked(login["args"])
    if failure is not None:
        return failure
    return _finish(authz, login["user"], login["role"], request.form.get("patient"))


def _finish(authz, username: str, role: str, patient: str | None) -> Response:
    try:
        code = _launch().issue_code(authz, username, role, patient)
    except AuthError as exc:
        _audit(exc.status, f"authorize refused: {exc.error}: {exc.description}", client_id=authz.client_id,
               user=username)
        return _back(authz.redirect_uri, error=exc.error, error_description=exc.description, state=authz.state)
    _audit(200, "signed in; authorization code issued", client_id=authz.client_id, user=username,
           patient=authz.launch_patient or patient)
    return _back(authz.redirect_uri, code=code, state=authz.state)


def _patients(username: str, role: str) -> list[dict]:
    """The picker's list, read (and audited) as the signed-in staff user."""
    container = current_app.extensions["fhir_gateway"]
    bundle = container.fhir.search("Patient", [("_count", "50"), ("_sort", "family")],
                                   base_url=fhir_base_url(), handling="lenient",
                                   agent=Agent(client_id="login", user=username, role=role,
                                               address=request.remote_addr))
    out = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        name = (resource.get("name") or [{}])[0]
        label = " ".join(name.get("given", []) + [name.get("family", "")]).strip() or resource["id"]
        out.append({"id": resource["id"], "label": f"{label} ({resource.get('birthDate', '?')})"})
    return out
