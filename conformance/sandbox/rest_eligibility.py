"""The sandbox REST EHR's eligibility API, answered from its own insurance records (the
insurance fields of each patient record) and a catalogue of plans keyed by group number.

May import: stdlib, flask and the sibling sandbox modules. Auth, rate limit and faults are the
shared guard's (rest_ehr.py).
  POST /api/v1/eligibility  {"patient_id", "member_id" (required), "service_date" (YYYY-MM-DD,
      default the vendor's today, UTC), "inquiry" (["eligibility", "benefits"], default
      ["eligibility"]), "service_types" (X12 service type codes, default every one the plan has)}
  200 {"eligibility_id", "patient_id", "member_id", "service_date", "status" (active when the
      service date is inside insurance_start..insurance_end, a missing end being open),
      "message", "payer", "plan": {"group_number", "name"} or null, "coverage_period",
      "benefit_period" (the plan year: the service date's calendar year within the coverage
      period; active only), "benefits" (inquiry "benefits", active members of a known plan):
      [{"service_type", "service_name", "network", "coverage_level", "period",
        "amounts": [{"type": copay|deductible|coinsurance, "allowed" or "percent", "currency"}]}]}
  404 member_not_found: no such patient record, or none of its insurance has this member id
  400 invalid_json / invalid_body / unknown_field, 422 missing_field / invalid_value
"""
from __future__ import annotations

import copy
import itertools
import threading
from datetime import date, datetime, timezone

from flask import Blueprint, jsonify, request

from conformance.sandbox.rest_fields import MAX_TEXT, BodyError, check_date
from conformance.sandbox.rest_store import RestStore

INQUIRIES = ("eligibility", "benefits")
FIELDS = ("patient_id", "member_id", "service_date", "inquiry", "service_types")


def _benefit(service_type: str, name: str, network: str, amounts: list[dict], level: str = "individual",
             period: str | None = "annual") -> dict:
    return {"service_type": service_type, "service_name": name, "network": network,
            "coverage_level": level, "period": period, "amounts": amounts}


def _money(kind: str, amount: str) -> dict:
    return {"type": kind, "allowed": amount, "currency": "USD"}


# X12 service type codes (used by FHIR's ex-benefitcategory): 30 health benefit plan
# coverage, 1 medical care, 35 dental care. Invented plans: no real payer's figures.
DEFAULT_PLANS = {
    "GRP-4410": {"name": "Acme Silver", "benefits": [
        _benefit("30", "Health Benefit Plan Coverage", "in", [_money("deductible", "1500.00")]),
        _benefit("30", "Health Benefit Plan Coverage", "out", [_money("deductible", "3000.00")]),
        _benefit("1", "Medical Care", "in", [_money("copay", "25.00"), {"type": "coinsurance", "percent": 20}],
                 period=None)]},
    "GRP-2000": {"name": "Acme Gold", "benefits": [
        _benefit("30", "Health Benefit Plan Coverage", "in", [_money("deductible", "500.00")]),
        _benefit("1", "Medical Care", "in", [_money("copay", "10.00")], period=None),
        _benefit("35", "Dental Care", "in", [{"type": "coinsurance", "percent": 50}], period=None)]},
}


class EligibilityDesk:
    """The plan catalogue and the check counter (ids e-000001, ...); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.plans = copy.deepcopy(DEFAULT_PLANS)
            self._ids = itertools.count(1)
            self.checks: list[dict] = []

    def set_plans(self, body: object) -> None:
        """{group_number: {"name", "benefits": [...]}} added to (or replacing in) the catalogue."""
        if not isinstance(body, dict) or not all(
                isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("benefits"), list)
                for p in body.values()):
            raise BodyError(400, "invalid_body", 'plans must be {"<group_number>": {"name", "benefits": [...]}}')
        with self._lock:
            self.plans.update(copy.deepcopy(body))

    def plan(self, group_number: str | None) -> dict | None:
        with self._lock:
            return copy.deepcopy(self.plans.get(group_number or ""))

    def record(self, answer: dict) -> dict:
        with self._lock:
            answer = {"eligibility_id": f"e-{next(self._ids):06d}", **answer}
            self.checks.append(answer)
        return answer


def _question(body: object) -> dict:
    if not isinstance(body, dict):
        raise BodyError(400, "invalid_body", "body must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise BodyError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in ("patient_id", "member_id") if body.get(name) in (None, "")]
    if missing:
        raise BodyError(422, "missing_field", f"required field(s) missing: {', '.join(missing)}")
    for name in ("patient_id", "member_id"):
        if not isinstance(body[name], str) or len(body[name]) > MAX_TEXT:
            raise BodyError(422, "invalid_value", f"{name} must be a string")
    service_date = body.get("service_date") or datetime.now(timezone.utc).date().isoformat()
    if not isinstance(service_date, str):
        raise BodyError(422, "invalid_value", "service_date must be a date YYYY-MM-DD")
    check_date("service_date", service_date, 422)
    inquiry = _strings(body, "inquiry", ["eligibility"])
    if set(inquiry) - set(INQUIRIES):
        raise BodyError(422, "invalid_value", f"inquiry must hold only {', '.join(INQUIRIES)}")
    return {"patient_id": body["patient_id"], "member_id": body["member_id"],
            "service_date": service_date, "inquiry": inquiry,
            "service_types": _strings(body, "service_types", None)}


def _strings(body: dict, name: str, default):
    value = body.get(name, default)
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) and v for v in value)):
        raise BodyError(422, "invalid_value", f"{name} must be a list of strings")
    return value


def answer(store: RestStore, desk: EligibilityDesk, question: dict) -> dict:
    """The vendor's eligibility answer for a checked question; BodyError when it has none."""
    record = store.get("patients", question["patient_id"])
    if record is None or not record.get("insurance_id") or record["insurance_id"] != question["member_id"]:
        raise BodyError(404, "member_not_found",
                        f"no member with this member_id on patient record {question['patient_id']}")
    day = date.fromisoformat(question["service_date"])
    start, end = record.get("insurance_start"), record.get("insurance_end")
    active = (start is None or date.fromisoformat(start) <= day) and (end is None or day <= date.fromisoformat(end))
    plan = desk.plan(record.get("group_number"))
    out = {"patient_id": record["id"], "member_id": question["member_id"],
           "service_date": question["service_date"], "status": "active" if active else "inactive",
           "message": (f"Coverage is active on {day}" if active else
                       f"Coverage is not active on {day}: the plan period is {start or 'open'} to {end or 'open'}"),
           "payer": record.get("insurance_company"),
           "plan": {"group_number": record.get("group_number"), "name": plan["name"]} if plan else None,
           "coverage_period": {"start": start, "end": end}}
    if active:
        year_start, year_end = date(day.year, 1, 1).isoformat(), date(day.year, 12, 31).isoformat()
        out["benefit_period"] = {"start": max(year_start, start or year_start),
                                 "end": min(year_end, end or year_end)}
        if plan and "benefits" in question["inquiry"]:
            wanted = question["service_types"]
            out["benefits"] = [b for b in plan["benefits"] if wanted is None or b["service_type"] in wanted]
    return desk.record(out)


def create_eligibility_api(store: RestStore, desk: EligibilityDesk) -> Blueprint:
    api = Blueprint("api_v1_eligibility", __name__, url_prefix="/api/v1")

    @api.errorhandler(BodyError)
    def body_error(exc: BodyError):
        return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status

    @api.post("/eligibility")
    def eligibility():
        body = request.get_json(silent=True, force=True)
        if body is None:
            raise BodyError(400, "invalid_json", "body must be valid JSON")
        return jsonify(answer(store, desk, _question(body)))

    return api
