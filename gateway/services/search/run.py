"""run_search: one search request from parameters to a searchset Bundle.

May import: sqlalchemy, gateway.store.models, gateway.resources, gateway.errors,
gateway.services.search.*, stdlib. Paging is keyset-based with an opaque `_page` token holding
the last row's sort values, its pk and a snapshot bound (max pk at the first page), so rows
inserted while a client pages neither shift nor repeat results.
"""
from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.errors import BadRequest, Issue, NotFound, operation_outcome
from gateway.resources import resource_types
from gateway.services.search.params import COMMON, SearchRequest, encode_cursor, parse_search
from gateway.services.search.query import (compartment_condition, criterion_condition,
                                           keyset_condition, sort_expression)
from gateway.services.search.shape import shape
from gateway.store.models import ReferenceIndexRow, ResourceRow


def _base_conditions(resource_type: str, request: SearchRequest, base_url: str,
                     compartment: tuple[str, str] | None) -> list:
    conditions = [ResourceRow.resource_type == resource_type, ResourceRow.deleted.is_(False)]
    conditions += [criterion_condition(c, base_url, resource_type) for c in request.criteria]
    if compartment is not None:
        links = resource_types()[resource_type].patient_compartment
        conditions.append(compartment_condition(resource_type, links, compartment[1]))
    return conditions


def _keys(resource_type: str, request: SearchRequest) -> list[tuple]:
    facts = resource_types()[resource_type]
    keys = []
    for code, descending in request.sort:
        param = facts.param(code) or COMMON[code]
        keys.append((sort_expression(code, param.type, descending), descending,
                     param.type == "date" or code == "_lastUpdated"))
    keys.append((ResourceRow.pk, False, False))
    return keys


def _cursor_values(keys, cursor: dict) -> list:
    values = list(cursor["k"]) + [cursor["pk"]]
    if len(values) != len(keys):
        raise BadRequest("_page does not belong to this search", expression=("_page",))
    return [datetime.fromisoformat(v) if is_date and isinstance(v, str) else v
            for v, (_e, _d, is_date) in zip(values, keys)]


def _page(session: Session, conditions: list, keys: list, request: SearchRequest, snapshot: int):
    cursor = request.cursor
    forward = cursor is None or cursor["d"] == "n"
    where = list(conditions) + [ResourceRow.pk <= snapshot]
    if cursor is not None:
        where.append(keyset_condition([(e, d) for e, d, _ in keys], _cursor_values(keys, cursor), forward))
    # Backward pages walk the same order reversed, then flip the rows back.
    order = [(e.desc() if d == forward else e.asc()) for e, d, _ in keys]
    columns = [ResourceRow.pk, ResourceRow.content] + [e for e, _d, _ in keys[:-1]]
    rows = session.execute(select(*columns).where(*where).order_by(*order)
                           .limit(request.count + 1)).all()
    more = len(rows) > request.count
    rows = rows[:request.count]
    if not forward:
        rows.reverse()
    return rows, more, forward


def _link(base_url: str, resource_type: str, kept: list, cursor: dict | None = None) -> str:
    params = list(kept) + ([("_page", encode_cursor(cursor))] if cursor else [])
    query = urlencode(params)
    return f"{base_url}/{resource_type}" + (f"?{query}" if query else "")


def _links(base_url, resource_type, request, rows, more, forward, snapshot) -> list[dict]:
    links = [{"relation": "self", "url": _link(base_url, resource_type, request.kept,
                                               request.cursor)}]
    if not rows:
        return links

    def cursor_at(row, direction):
        values = [v.isoformat() if isinstance(v, datetime) else v for v in row[2:]]
        return {"k": values, "pk": row[0], "m": snapshot, "d": direction}
    if (forward and more) or (not forward and request.cursor is not None):
        links.append({"relation": "next", "url": _link(base_url, resource_type, request.kept,
                                                       cursor_at(rows[-1], "n"))})
    if (request.cursor is not None and forward) or (not forward and more):
        links.append({"relation": "previous", "url": _link(base_url, resource_type, request.kept,
                                                           cursor_at(rows[0], "p"))})
    return links


def _included(session: Session, matches: list[dict], resource_type: str, request: SearchRequest) -> list[dict]:
    """_include / _revinclude targets of this page, deduplicated (R4 search.html#include)."""
    pks = [m["_pk"] for m in matches]
    ids = [m["id"] for m in matches]
    found: dict[tuple[str, str], str] = {}
    for source, code, target in request.includes:
        if source != resource_type or not pks:
            continue
        refs = session.execute(select(ReferenceIndexRow.target_type, ReferenceIndexRow.target_id)
                               .where(ReferenceIndexRow.resource_pk.in_(pks), ReferenceIndexRow.param == code,
                                      ReferenceIndexRow.target_id.is_not(None))).all()
        wanted = {(t, i) for t, i in refs if target is None or t == target}
        for t, i in wanted:
            row = session.execute(select(ResourceRow.content).where(
                ResourceRow.resource_type == t, ResourceRow.id == i, ResourceRow.deleted.is_(False))).scalar()
            if row:
                found[(t, i)] = row
    for source, code, _target in request.revincludes:
        if not ids:
            continue
        rows = session.execute(select(ResourceRow.resource_type, ResourceRow.id, ResourceRow.content)
                               .join(ReferenceIndexRow, ReferenceIndexRow.resource_pk == ResourceRow.pk)
                               .where(ResourceRow.resource_type == source, ResourceRow.deleted.is_(False),
                                      ReferenceIndexRow.param == code,
                                      ReferenceIndexRow.target_type == resource_type,
                                      ReferenceIndexRow.target_id.in_(ids))).all()
        for t, i, content in rows:
            found[(t, i)] = content
    matched = {(resource_type, i) for i in ids}
    return [json.loads(c) for key, c in found.items() if key not in matched]


def _outcome_entry(unknown: list[str]) -> dict:
    issues = [Issue("warning", "not-supported", f"Unknown search parameter {name!r} was ignored",
                    (name,)) for name in unknown]
    return {"resource": operation_outcome(issues), "search": {"mode": "outcome"}}


def run_search(session: Session, resource_type: str, params: list[tuple[str, str]], *,
               base_url: str, handling: str = "lenient", default_count: int = 20,
               max_count: int = 500, compartment: tuple[str, str] | None = None) -> dict:
    known = resource_types()
    facts = known.get(resource_type)
    if facts is None:
        raise NotFound(f"Resource type {resource_type!r} is not searchable here")
    request = parse_search(facts, params, known, default_count=default_count, max_count=max_count)
    if request.unknown and handling == "strict":
        raise BadRequest(f"Unknown search parameter {request.unknown[0]!r} "
                         "(Prefer: handling=strict)", expression=(request.unknown[0],))
    conditions = _base_conditions(resource_type, request, base_url, compartment)
    snapshot = request.cursor["m"] if request.cursor else (
        session.execute(select(func.max(ResourceRow.pk))).scalar() or 0)
    total = None
    if request.total != "none" or request.summary == "count":
        total = session.execute(select(func.count()).select_from(ResourceRow)
                                .where(*conditions, ResourceRow.pk <= snapshot)).scalar_one()
    bundle: dict = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    entries = [_outcome_entry(request.unknown)] if request.unknown else []
    if request.summary == "count" or request.count == 0:
        bundle["link"] = [{"relation": "self", "url": _link(base_url, resource_type, request.kept)}]
        if entries:
            bundle["entry"] = entries
        return bundle
    keys = _keys(resource_type, request)
    rows, more, forward = _page(session, conditions, keys, request, snapshot)
    bundle["link"] = _links(base_url, resource_type, request, rows, more, forward, snapshot)
    matches = []
    for row in rows:
        resource = json.loads(row[1])
        resource["_pk"] = row[0]
        matches.append(resource)
    included = _included(session, matches, resource_type, request)
    for resource, mode in [(m, "match") for m in matches] + [(r, "include") for r in included]:
        resource.pop("_pk", None)
        entries.append({"fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
                        "resource": shape(resource, request.summary, request.elements),
                        "search": {"mode": mode}})
    if entries:
        bundle["entry"] = entries
    return bundle
