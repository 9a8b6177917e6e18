"""The sandbox REST EHR's JSON shape: its fields, enums, and the validation of request bodies.

May import: stdlib only. The field names are the vendor's own and are mirrored by the vendor
REST translation profile, so they must not change. A body with a field not listed here is a
400 (unknown_field); a listed field with a bad value, or a missing required one, is a 422.
"""
from __future__ import annotations

from datetime import date, datetime

SEXES = ("M", "F", "O", "U")
MARITAL_STATUSES = ("single", "married", "divorced", "widowed", "unknown")
RELATIONSHIPS = ("self", "spouse", "child", "other")
APPOINTMENT_STATUSES = ("booked", "cancelled", "no_show", "arrived", "completed", "pending")

_TEXT = "text"
PATIENT_FIELDS: dict[str, object] = {
    "chart_number": _TEXT, "first_name": _TEXT, "middle_name": _TEXT, "last_name": _TEXT,
    "date_of_birth": "date", "sex": SEXES, "phone_home": _TEXT, "phone_mobile": _TEXT,
    "email": _TEXT, "address_line1": _TEXT, "address_line2": _TEXT, "city": _TEXT,
    "state": _TEXT, "zip": _TEXT, "marital_status": MARITAL_STATUSES,
    "insurance_company": _TEXT, "insurance_id": _TEXT, "group_number": _TEXT,
    "insurance_relationship": RELATIONSHIPS, "insurance_start": "date", "insurance_end": "date",
    "emergency_contact_name": _TEXT,
    "emergency_contact_phone": _TEXT, "emergency_contact_relationship": _TEXT,
}
PATIENT_REQUIRED = ("first_name", "last_name", "date_of_birth")

APPOINTMENT_FIELDS: dict[str, object] = {
    "patient_id": _TEXT, "provider": _TEXT, "location": _TEXT, "start_time": "datetime",
    "end_time": "datetime", "duration_minutes": "minutes", "status": APPOINTMENT_STATUSES,
    "reason": _TEXT, "visit_type": _TEXT,
}
APPOINTMENT_REQUIRED = ("patient_id", "start_time")
READ_ONLY = ("id", "updated_at")  # server-set: accepted back on PUT, never stored from a body
MAX_TEXT = 500


class BodyError(Exception):
    """A refused body: HTTP status (400 or 422), error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _check_value(name: str, kind: object, value: object) -> object:
    if value is None:
        return None
    if kind == "minutes":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 24 * 60:
            raise BodyError(422, "invalid_value", f"{name} must be an integer from 0 to 1440")
        return value
    if not isinstance(value, str):
        raise BodyError(422, "invalid_value", f"{name} must be a string")
    if len(value) > MAX_TEXT:
        raise BodyError(422, "invalid_value", f"{name} is longer than {MAX_TEXT} characters")
    if isinstance(kind, tuple) and value not in kind:
        raise BodyError(422, "invalid_value", f"{name} must be one of {', '.join(kind)}")
    if kind == "date":
        check_date(name, value, 422)
    if kind == "datetime":
        parse_datetime(name, value)
    return value


def check_date(name: str, value: str, status: int) -> None:
    try:
        if len(value) != 10:
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise BodyError(status, "invalid_value", f"{name} must be a date YYYY-MM-DD") from None


def parse_datetime(name: str, value: str) -> datetime:
    """ISO 8601 date-time with a UTC offset (a naive time is ambiguous, so it is refused)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BodyError(422, "invalid_value", f"{name} must be an ISO 8601 date-time") from None
    if parsed.tzinfo is None or len(value) < 16:
        raise BodyError(422, "invalid_value", f"{name} must carry a UTC offset, e.g. +00:00")
    return parsed


def validate(body: object, fields: dict[str, object], required: tuple[str, ...],
             record_id: str | None = None) -> dict:
    """The stored record for a POST (record_id None) or a PUT body; raises BodyError."""
    if not isinstance(body, dict):
        raise BodyError(400, "invalid_body", "body must be a JSON object")
    unknown = sorted(set(body) - set(fields) - set(READ_ONLY))
    if unknown:
        raise BodyError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    if "id" in body and body["id"] != record_id:
        raise BodyError(400, "read_only_field", "id is assigned by the server"
                        if record_id is None else f"id {body['id']!r} does not match the URL")
    missing = [name for name in required if body.get(name) in (None, "")]
    if missing:
        raise BodyError(422, "missing_field", f"required field(s) missing: {', '.join(missing)}")
    return {name: _check_value(name, kind, body.get(name)) for name, kind in fields.items()}


def validate_appointment(body: object, record_id: str | None = None) -> dict:
    record = validate(body, APPOINTMENT_FIELDS, APPOINTMENT_REQUIRED, record_id)
    record["status"] = record["status"] or "booked"
    if record["end_time"]:
        start = parse_datetime("start_time", record["start_time"])
        if parse_datetime("end_time", record["end_time"]) < start:
            raise BodyError(422, "invalid_value", "end_time is before start_time")
    return record
