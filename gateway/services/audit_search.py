"""GET /fhir/AuditEvent: search the audit log by date, agent, entity, patient, action, outcome.

May import: gateway.store.audit, gateway.errors, stdlib. Served from the append-only audit
table, not the resource store, so audit rows can never be edited through the FHIR API.
Paging is by row pk: events appended while a client pages never shift the pages.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from gateway.errors import BadRequest
from gateway.store.audit import AuditFilters, AuditRepository

_DATE = re.compile(r"^(eq|ne|lt|gt|le|ge)?(\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?)$")
_IGNORED = {"_format", "_pretty"}


def _date_range(text: str) -> tuple[datetime, datetime]:
    """[low, high) UTC bounds of a FHIR date at its precision (R4 search.html#date)."""
    if len(text) == 4:
        low = datetime(int(text), 1, 1)
        return low, low.replace(year=low.year + 1)
    if len(text) == 7:
        low = datetime(int(text[:4]), int(text[5:7]), 1)
        return low, (low + timedelta(days=32)).replace(day=1)
    if len(text) == 10:
        low = datetime.fromisoformat(text)
        return low, low + timedelta(days=1)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment, moment + timedelta(seconds=1)


def _date_filters(value: str) -> list[tuple[str, datetime]]:
    match = _DATE.match(value)
    if not match:
        raise BadRequest(f"date={value!r} is not a FHIR date search value", expression=("date",))
    prefix, text = match.group(1) or "eq", match.group(2)
    try:
        low, high = _date_range(text)
    except ValueError:
        raise BadRequest(f"date={value!r} is not a valid date", expression=("date",)) from None
    return {"eq": [("ge", low), ("lt", high)], "lt": [("lt", low)], "le": [("lt", high)],
            "gt": [("ge", high)], "ge": [("ge", low)]}.get(prefix) or _refuse_ne()


def _refuse_ne():
    raise BadRequest("date prefix ne is not supported for AuditEvent", expression=("date",))


def _token(value: str) -> list[str]:
    return [part.split("|")[-1] for part in value.split(",") if part]


def parse(params: list[tuple[str, str]]) -> tuple[AuditFilters, int | None, int | None]:
    filters, count, page = AuditFilters(), None, None
    for name, value in params:
        if name == "date":
            filters.recorded += _date_filters(value)
        elif name == "agent":
            filters.agents += _token(value)
        elif name == "entity":
            filters.entities += [v for v in value.split(",") if v]
        elif name == "patient":
            filters.patients += [v.split("/")[-1] for v in value.split(",") if v]
        elif name == "action":
            filters.actions += _token(value)
        elif name == "outcome":
            filters.outcomes += _token(value)
        elif name in ("_count", "_page"):
            if not value.isdigit():
                raise BadRequest(f"{name} must be a non-negative integer", expression=(name,))
            count, page = (int(value), page) if name == "_count" else (count, int(value))
        elif name not in _IGNORED:
            raise BadRequest(f"Unknown AuditEvent search parameter {name!r}", expression=(name,))
    return filters, count, page


def search_bundle(session: Session, params: list[tuple[str, str]], *, base_url: str,
                  default_count: int, max_count: int) -> dict:
    filters, count, page = parse(params)
    count = min(count if count is not None else default_count, max_count)
    rows, total = AuditRepository(session).search(filters, count=max(count, 1), before_pk=page)
    keep = [(k, v) for k, v in params if k not in ("_page",)]
    links = [{"relation": "self", "url": f"{base_url}/AuditEvent?{urlencode(params)}"}]
    if count and len(rows) > count:
        links.append({"relation": "next",
                      "url": f"{base_url}/AuditEvent?{urlencode(keep + [('_page', rows[count][0])])}"})
    entries = [{"fullUrl": f"{base_url}/AuditEvent/{json.loads(c)['id']}", "resource": json.loads(c),
                "search": {"mode": "match"}} for _, c in rows[:count]]
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links,
            "entry": entries}
