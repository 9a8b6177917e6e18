"""History bundles (R4 http.html#history): instance and type history, newest first, paged.

May import: gateway.store, gateway.errors, gateway.services.canonical, stdlib.
Paging uses the version-row primary key, so versions written while a client pages through
the history never shift or repeat entries.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from gateway.errors import BadRequest
from gateway.services.canonical import instant
from gateway.store.resources import ResourceRepository, StoredResource

_KNOWN = {"_count", "_since", "_page", "_format", "_pretty"}


def _parse_since(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"_since must be a FHIR instant, got {value!r}", expression=("_since",)) from None
    if moment.tzinfo is None:
        raise BadRequest("_since must carry a time zone (R4 instant)", expression=("_since",))
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _entry(stored: StoredResource, base_url: str) -> dict:
    path = f"{stored.resource_type}/{stored.id}"
    status = {"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}[stored.method]
    entry: dict = {"fullUrl": f"{base_url}/{path}"}
    if stored.content is not None:
        entry["resource"] = json.loads(stored.content)
    entry["request"] = {"method": stored.method,
                        "url": path if stored.method != "POST" else stored.resource_type}
    entry["response"] = {"status": status, "etag": f'W/"{stored.version_id}"',
                         "lastModified": instant(stored.last_updated)}
    return entry


def history_bundle(session: Session, resource_type: str | None, resource_id: str | None,
                   params: list[tuple[str, str]], *, base_url: str, default_count: int,
                   max_count: int) -> dict:
    """The history Bundle for one resource (resource_id) or a whole type."""
    args = dict(params)
    unknown = sorted(set(args) - _KNOWN)
    if unknown:
        raise BadRequest(f"Unsupported history parameter {unknown[0]!r}", expression=(unknown[0],))
    try:
        count = min(int(args.get("_count", default_count)), max_count)
        page = int(args["_page"]) if "_page" in args else None
    except ValueError:
        raise BadRequest("_count and _page must be integers") from None
    if count < 1:
        raise BadRequest("_count must be at least 1 for history", expression=("_count",))
    since = _parse_since(args["_since"]) if "_since" in args else None
    repo = ResourceRepository(session)
    rows, total = repo.history(resource_type, resource_id, since=since, at_or_below_pk=page,
                               count=count)
    path = "/".join(p for p in (resource_type, resource_id, "_history") if p)
    keep = {k: v for k, v in args.items() if k in ("_count", "_since")}
    links = [{"relation": "self", "url": f"{base_url}/{path}?{urlencode(dict(keep, **({'_page': page} if page else {})))}".rstrip("?")}]
    if len(rows) > count:
        links.append({"relation": "next",
                      "url": f"{base_url}/{path}?{urlencode(dict(keep, _page=rows[count].pk))}"})
    return {"resourceType": "Bundle", "type": "history", "total": total, "link": links,
            "entry": [_entry(r, base_url) for r in rows[:count]]}
