"""A second vendor dialect on the sandbox REST EHR, modelled on OpenEMR 7's standard REST API:
/openemr/apis/default/api/patient, .../patient/{puuid}/appointment, .../patient/{puuid}/insurance.

May import: stdlib, flask and the sibling sandbox modules. Field names are OpenEMR's (fname,
lname, DOB, pubpid; pc_eventDate, pc_startTime, pc_duration in seconds, pc_apptstatus from the
`apptstat` list; provider, policy_number, subscriber_*). Answers use OpenEMR's envelope
{"validationErrors", "internalErrors", "data"}; a refused body is a 400 with validationErrors
keyed by field, as OpenEMR's validators answer. Bearer auth, the rate limit and faults are the
shared guard's (rest_ehr.py); the token endpoint is /openemr/oauth2/default/token.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, jsonify, request

from conformance.sandbox.rest_fields import MAX_TEXT
from conformance.sandbox.rest_openemr_store import OpenEmrStore

PREFIX = "/openemr/apis/default/api"
TOKEN_PATH = "/openemr/oauth2/default/token"
MAX_LIMIT = 100

SEXES = ("Male", "Female", "UNK")
MARITAL = ("married", "single", "divorced", "widowed", "separated", "domestic partner")
APPTSTAT = ("-", "*", "+", "x", "?", "@", "~", "!", "#", "<", ">", "$", "%", "^")
RELATIONS = ("self", "spouse", "child", "other")
PATIENT = {name: "text" for name in ("title", "fname", "mname", "lname", "street", "city", "state",
                                     "postal_code", "country_code", "phone_home", "phone_cell",
                                     "phone_biz", "email", "contact_relationship", "phone_contact",
                                     "pubpid")}
PATIENT.update(DOB="date", sex=SEXES, status=MARITAL)
APPOINTMENT = {"pc_catid": "text", "pc_title": "text", "pc_hometext": "text", "pc_facility": "text",
               "pc_billing_location": "text", "pc_aid": "text", "pc_eventDate": "date",
               "pc_startTime": "time", "pc_endTime": "time", "pc_duration": "seconds",
               "pc_apptstatus": APPTSTAT, "puuid": "text"}
INSURANCE = {name: "text" for name in ("provider", "plan_name", "policy_number", "group_number",
                                       "subscriber_lname", "subscriber_mname", "subscriber_fname",
                                       "puuid")}
INSURANCE.update(type=("primary", "secondary", "tertiary"), subscriber_relationship=RELATIONS,
                 subscriber_DOB="date", subscriber_sex=SEXES, date="date", date_end="date")
REQUIRED = {"patient": ("fname", "lname", "DOB", "sex"),
            "appointment": ("pc_eventDate", "pc_startTime", "pc_duration", "pc_apptstatus"),
            "insurance": ("type", "provider")}
READ_ONLY = ("pid", "uuid", "pc_eid")


class Invalid(Exception):
    def __init__(self, errors: dict) -> None:
        super().__init__(str(errors))
        self.errors = errors


def envelope(data, status: int = 200, validation=None, internal=None):
    body = {"validationErrors": validation or [], "internalErrors": internal or [], "data": data}
    return jsonify(body), status


def _kind_problem(kind, value) -> str | None:
    if kind == "seconds":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())
        return None if ok and 0 <= int(value) <= 86400 else "must be a number of seconds"
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > MAX_TEXT:
        return f"is longer than {MAX_TEXT} characters"
    if isinstance(kind, tuple):
        return None if value in kind else f"must be one of {', '.join(kind)}"
    formats = {"date": ("%Y-%m-%d",), "time": ("%H:%M:%S", "%H:%M")}
    for fmt in formats.get(kind, ()):
        try:
            datetime.strptime(value, fmt)
            return None
        except ValueError:
            continue
    return None if kind == "text" else f"must be a {kind} ({' or '.join(formats[kind])})"


def checked(kind: str, fields: dict, body, puuid: str | None = None) -> dict:
    if not isinstance(body, dict):
        raise Invalid({"body": {"object": "body must be a JSON object"}})
    errors: dict = {}
    for name in sorted(set(body) - set(fields) - set(READ_ONLY)):
        errors[name] = {"unknown": "is not a field of this record"}
    for name in REQUIRED[kind]:
        if body.get(name) in (None, ""):
            errors[name] = {"required": "is required"}
    for name, field_kind in fields.items():
        value = body.get(name)
        problem = None if value in (None, "") else _kind_problem(field_kind, value)
        if problem:
            errors[name] = {"invalid": f"{name} {problem}"}
    if puuid is not None and body.get("puuid") not in (None, puuid):
        errors["puuid"] = {"mismatch": "does not match the patient in the URL"}
    if errors:
        raise Invalid(errors)
    return {name: body[name] for name in fields if body.get(name) not in (None, "")}


def _with_end_time(record: dict) -> dict:
    """OpenEMR derives pc_endTime from the start and the duration when it is not given."""
    start = datetime.strptime(record["pc_startTime"][:5], "%H:%M")
    if "pc_endTime" not in record:
        end = start + timedelta(seconds=int(record["pc_duration"]))
        record["pc_endTime"] = end.strftime("%H:%M:%S")
    elif datetime.strptime(record["pc_endTime"][:5], "%H:%M") < start:
        raise Invalid({"pc_endTime": {"invalid": "pc_endTime is before pc_startTime"}})
    return record


def create_openemr_api(store: OpenEmrStore) -> Blueprint:
    api = Blueprint("openemr_api", __name__, url_prefix=PREFIX)

    @api.errorhandler(Invalid)
    def invalid(exc: Invalid):
        return envelope([], 400, validation=exc.errors)

    _patient_routes(api, store)
    _child_routes(api, store, "appointment", APPOINTMENT, "pc_eid")
    _child_routes(api, store, "insurance", INSURANCE, "uuid")
    return api


def _body():
    return request.get_json(silent=True, force=True)


def _patient_routes(api: Blueprint, store: OpenEmrStore) -> None:
    @api.post("/patient")
    def create_patient():
        record = checked("patient", PATIENT, _body())
        if record.get("pubpid") and any(p.get("pubpid") == record["pubpid"] for p in store.all("patient")):
            raise Invalid({"pubpid": {"unique": "another patient has this external id (pubpid)"}})
        saved = store.create("patient", record)
        return envelope({"pid": saved["pid"], "uuid": saved["uuid"]}, 201)

    @api.get("/patient")
    def list_patients():
        filters = {k: v for k, v in request.args.items() if k in ("pubpid", "fname", "lname", "DOB")}
        unknown = set(request.args) - set(filters) - {"_offset", "_limit"}
        if unknown:
            raise Invalid({name: {"unknown": "is not a search parameter"} for name in sorted(unknown)})
        offset, limit = _int_arg("_offset", 0, 10**9), _int_arg("_limit", 50, MAX_LIMIT)
        found = [p for p in store.all("patient")
                 if all(str(p.get(k, "")).lower() == v.lower() for k, v in filters.items())]
        return envelope(found[offset:offset + limit])

    @api.get("/patient/<puuid>")
    def read_patient(puuid: str):
        record = store.get("patient", puuid)
        return envelope(record) if record else envelope([], 404, internal=[f"no patient {puuid}"])

    @api.put("/patient/<puuid>")
    def update_patient(puuid: str):
        current = store.get("patient", puuid)
        if current is None:
            return envelope([], 404, internal=[f"no patient {puuid}"])
        record = checked("patient", PATIENT, _body())
        saved = {**record, "pid": current["pid"], "uuid": puuid}
        store.replace("patient", puuid, saved)
        return envelope(saved)


def _int_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > maximum:
        raise Invalid({name: {"invalid": f"must be an integer from 0 to {maximum}"}})
    return int(raw)


def _child_routes(api: Blueprint, store: OpenEmrStore, kind: str, fields: dict, key: str) -> None:
    base = f"/patient/<puuid>/{kind}"

    def known_patient(puuid: str):
        return store.get("patient", puuid) is not None

    def create(puuid: str):
        if not known_patient(puuid):
            return envelope([], 404, internal=[f"no patient {puuid}"])
        record = checked(kind, fields, _body(), puuid)
        saved = store.create(kind, _with_end_time(record) if kind == "appointment" else record, puuid)
        return envelope({key: saved[key], **({"uuid": saved["uuid"]} if kind == "insurance" else {})}, 201)

    def listing(puuid: str):
        return envelope(store.all(kind, puuid))

    def one(puuid: str, child: str):
        if request.method == "DELETE":
            ok = store.delete(kind, child, puuid)
            return envelope([], 200) if ok else envelope([], 404, internal=[f"no {kind} {child}"])
        current = store.get(kind, child, puuid)
        if current is None:
            return envelope([], 404, internal=[f"no {kind} {child}"])
        if request.method == "GET":
            return envelope(current)
        record = checked(kind, fields, _body(), puuid)
        saved = {**record, key: child, "puuid": puuid}
        store.replace(kind, child, saved)
        return envelope(saved)

    # OpenEMR 7: appointments are created and deleted (no update); insurances created and updated.
    api.add_url_rule(base, f"create_{kind}", create, methods=["POST"])
    api.add_url_rule(base, f"list_{kind}", listing, methods=["GET"])
    one_methods = ["GET", "DELETE"] if kind == "appointment" else ["GET", "PUT"]
    api.add_url_rule(f"{base}/<child>", f"one_{kind}", one, methods=one_methods)
