"""run_search: one search request from parameters to a searchset Bundle (R4 search.html).

May import: sqlalchemy, gateway.store.models, gateway.resources, gateway.errors,
gateway.services.search.*, stdlib. Paging is keyset-based with an opaque `_page` token holding
the last row's sort values, its pk and a snapshot (max resource pk and max version pk at the
first page), so rows inserted or updated while a client pages neither shift nor repeat results.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from gateway.errors import BadRequest, Issue, NotFound, operation_outcome
from gateway.resources import resource_types
from gateway.services.search.params import COMMON, SearchRequest, encode_cursor, parse_search
from gateway.services.search.query import (compartment_condition, criterion_condition,
                                           keyset_condition, sort_expression, touched_since)
from gateway.services.search.shape import shape
from gateway.store.models import ReferenceIndexRow, ResourceRow, ResourceVersionRow


@dataclass(frozen=True)
class Snapshot:
    """The store as the first page saw it: later pages ignore rows and versions beyond it."""

    resource_pk: int
    version_pk: int


def _compartment(resource_type: str, compartment: tuple[str, str] | None) -> list:
    if compartment is None:
        return []
    links = resource_types()[resource_type].patient_compartment
    return [compartment_condition(resource_type, links, compartment[1])]


def _base_conditions(resource_type: str, request: SearchRequest, base_url: str,
                     compartment: tuple[str, str] | None) -> list:
    conditions = [ResourceRow.deleted.is_(False)]
    # A positive index lookup already confines rows to the type (index rows carry it). Leaving
    # the type test out then lets SQLite drive the query from the index hits (rowid lookups)
    # instead of scanning every row of the type, even without ANALYZE statistics.
    if not any(c.param.code not in COMMON and c.modifier not in ("not", "missing")
               for c in request.criteria):
        conditions.append(ResourceRow.resource_type == resource_type)
    conditions += [criterion_condition(c, base_url, resource_type) for c in request.criteria]
    return conditions + _compartment(resource_type, compartment)


def _snapshot(session: Session, request: SearchRequest) -> Snapshot:
    if request.cursor is not None:
        return Snapshot(request.cursor["m"], request.cursor["v"])
    row = session.execute(select(select(func.max(ResourceRow.pk)).scalar_subquery(),
                                 select(func.max(ResourceVersionRow.pk)).scalar_subquery())).one()
    return Snapshot(row[0] or 0, row[1] or 0)


def _keys(resource_type: str, request: SearchRequest, as_of_version: int | None) -> list[tuple]:
    """[(expression, descending, is_date)] in sort order; pk last breaks every tie.

    The pk runs in the direction of the first key, so that a single-key sort on an indexed
    column (_lastUpdated) is one index walk in either direction.
    """
    facts = resource_types()[resource_type]
    keys = []
    for code, descending in request.sort:
        param = facts.param(code) or COMMON[code]
        keys.append((sort_expression(code, param.type, descending, as_of_version),
                     descending, param.type == "date"))
    keys.append((ResourceRow.pk, bool(request.sort) and request.sort[0][1], False))
    return keys


def _cursor_values(keys, cursor: dict) -> list:
    values = list(cursor["k"]) + [cursor["pk"]]
    if len(values) != len(keys):
        raise BadRequest("_page does not belong to this search", expression=("_page",))
    try:
        return [datetime.fromisoformat(v) if is_date else v
                for v, (_e, _d, is_date) in zip(values, keys)]
    except (TypeError, ValueError):
        raise BadRequest("_page is not a page token this server issued", expression=("_page",)) from None


def _branch(conditions: list, keys: list, request: SearchRequest, forward: bool):
    """One ordered, limited SELECT of (pk, content, id, sort keys...)."""
    where = list(conditions)
    if request.cursor is not None:
        values = _cursor_values(keys, request.cursor)
        where.append(keyset_condition([(e, d) for e, d, _ in keys], values, forward))
    # Backward pages walk the same order reversed, then flip the rows back.
    order = [(e.desc() if d == forward else e.asc()) for e, d, _ in keys]
    columns = [ResourceRow.pk.label("pk"), ResourceRow.content.label("content"),
               ResourceRow.id.label("id")] + [e.label(f"k{i}") for i, (e, _d, _) in enumerate(keys[:-1])]
    return select(*columns).where(*where).order_by(*order).limit(request.count + 1)


def _statement(conditions: list, resource_type: str, request: SearchRequest, snapshot: Snapshot,
               forward: bool):
    conditions = conditions + [ResourceRow.pk <= snapshot.resource_pk]
    if not any(code == "_lastUpdated" for code, _ in request.sort):
        return _branch(conditions, _keys(resource_type, request, None), request, forward)
    # Sorting by _lastUpdated: rows untouched since the snapshot walk the (type, lastUpdated)
    # index in order; the few written since get their lastUpdated as of the snapshot.
    touched = touched_since(snapshot.version_pk)
    plain = _branch(conditions + [ResourceRow.pk.not_in(touched)],
                    _keys(resource_type, request, None), request, forward)
    as_of = _branch(conditions + [ResourceRow.pk.in_(touched)],
                    _keys(resource_type, request, snapshot.version_pk), request, forward)
    both = union_all(plain.subquery().select(), as_of.subquery().select()).subquery()
    order = [both.c[f"k{i}"] for i in range(len(request.sort))] + [both.c.pk]
    directions = [d for _c, d in request.sort] + [request.sort[0][1]]
    return (select(both).order_by(*[(c.desc() if d == forward else c.asc())
                                    for c, d in zip(order, directions)])
            .limit(request.count + 1))


def _page(session: Session, conditions: list, resource_type: str, request: SearchRequest,
          snapshot: Snapshot):
    forward = request.cursor is None or request.cursor["d"] == "n"
    rows = session.execute(_statement(conditions, resource_type, request, snapshot, forward)).all()
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
    """self, next and previous (R4 http.html#paging); page tokens are opaque to clients."""
    links = [{"relation": "self", "url": _link(base_url, resource_type, request.kept,
                                               request.cursor)}]
    if not rows:
        return links

    def cursor_at(row, direction):
        values = [v.isoformat() if isinstance(v, datetime) else v for v in row[3:]]
        return {"k": values, "pk": row[0], "m": snapshot.resource_pk, "v": snapshot.version_pk,
                "d": direction, "s": request.sort_signature()}
    if (forward and more) or (not forward and request.cursor is not None):
        links.append({"relation": "next", "url": _link(base_url, resource_type, request.kept,
                                                       cursor_at(rows[-1], "n"))})
    if (request.cursor is not None and forward) or (not forward and more):
        links.append({"relation": "previous", "url": _link(base_url, resource_type, request.kept,
                                                           cursor_at(rows[0], "p"))})
    return links


def _rows(session: Session, *conditions) -> list[tuple]:
    """(type, id, content) of live resources matching `conditions`, in storage order."""
    return session.execute(select(ResourceRow.resource_type, ResourceRow.id, ResourceRow.content)
                           .where(ResourceRow.deleted.is_(False), *conditions)
                           .order_by(ResourceRow.pk)).all()


def _included(session: Session, pks: list[int], ids: list[str], resource_type: str,
              request: SearchRequest, compartment: tuple[str, str] | None) -> list[tuple]:
    """(type, id, content) of the _include / _revinclude targets of this page (R4 #include).

    Under a compartment, included resources are confined to it as well: an Appointment of
    this patient must not bring in another patient through _include.
    """
    found: list[tuple] = []
    for source, code, target in request.includes:
        if source != resource_type or not pks:
            continue
        refs = (select(ReferenceIndexRow.target_type, ReferenceIndexRow.target_id)
                .where(ReferenceIndexRow.resource_pk.in_(pks), ReferenceIndexRow.param == code))
        if target:
            refs = refs.where(ReferenceIndexRow.target_type == target)
        for target_type, target_ids in _group(session.execute(refs).all()).items():
            found += _rows(session, ResourceRow.resource_type == target_type,
                           ResourceRow.id.in_(target_ids), *_compartment(target_type, compartment))
    for source, code, _target in request.revincludes:
        if not ids:
            continue
        referring = select(ReferenceIndexRow.resource_pk).where(
            ReferenceIndexRow.resource_type == source, ReferenceIndexRow.param == code,
            ReferenceIndexRow.target_type == resource_type, ReferenceIndexRow.target_id.in_(ids))
        found += _rows(session, ResourceRow.resource_type == source, ResourceRow.pk.in_(referring),
                       *_compartment(source, compartment))
    return found


def _group(refs) -> dict[str, set[str]]:
    """Referenced ids by target type, for the types this server stores."""
    known = resource_types()
    grouped: dict[str, set[str]] = {}
    for target_type, target_id in refs:
        if target_type in known and target_id:
            grouped.setdefault(target_type, set()).add(target_id)
    return grouped


def _outcome_entry(unknown: list[str]) -> dict:
    issues = [Issue("warning", "not-supported", f"Unknown search parameter {name!r} was ignored",
                    (name,)) for name in unknown]
    return {"resource": operation_outcome(issues), "search": {"mode": "outcome"}}


def _entries(session, rows, resource_type, request, base_url, compartment) -> list[dict]:
    """match entries for the page rows, then include entries, each resource once."""
    seen = {(resource_type, row[2]): row[1] for row in rows}
    matched = list(seen.items())
    included = []
    for t, i, content in _included(session, [r[0] for r in rows], [k[1] for k, _ in matched],
                                   resource_type, request, compartment):
        if (t, i) not in seen:
            seen[(t, i)] = content
            included.append(((t, i), content))
    return [{"fullUrl": f"{base_url}/{t}/{i}",
             "resource": shape(json.loads(content), request.summary, request.elements),
             "search": {"mode": mode}}
            for mode, group in (("match", matched), ("include", included))
            for (t, i), content in group]


def run_search(session: Session, resource_type: str, params: list[tuple[str, str]], *,
               base_url: str, handling: str = "lenient", default_count: int = 20,
               max_count: int = 500, compartment: tuple[str, str] | None = None) -> dict:
    """The searchset Bundle for `params` (raw query pairs, in order, repeats kept).

    Raises BadRequest for invalid values, and under handling="strict" for unknown parameters
    (lenient: an OperationOutcome entry warns and the parameter is ignored). `compartment`
    ("Patient", id) confines matches and includes to that patient's compartment.
    """
    known = resource_types()
    facts = known.get(resource_type)
    if facts is None:
        raise NotFound(f"Resource type {resource_type!r} is not searchable here")
    request = parse_search(facts, params, known, default_count=default_count, max_count=max_count)
    if request.unknown and handling == "strict":  # R4 search.html#errors, Prefer: handling
        raise BadRequest(f"Unknown search parameter {request.unknown[0]!r} "
                         "(Prefer: handling=strict)", expression=(request.unknown[0],))
    conditions = _base_conditions(resource_type, request, base_url, compartment)
    snapshot = _snapshot(session, request)
    bundle: dict = {"resourceType": "Bundle", "type": "searchset"}
    if request.total != "none" or request.summary == "count":
        bundle["total"] = session.execute(select(func.count()).select_from(ResourceRow).where(
            *conditions, ResourceRow.pk <= snapshot.resource_pk)).scalar_one()
    entries = [_outcome_entry(request.unknown)] if request.unknown else []
    if request.summary == "count" or request.count == 0:
        bundle["link"] = [{"relation": "self", "url": _link(base_url, resource_type, request.kept)}]
    else:
        rows, more, forward = _page(session, conditions, resource_type, request, snapshot)
        bundle["link"] = _links(base_url, resource_type, request, rows, more, forward, snapshot)
        entries += _entries(session, rows, resource_type, request, base_url, compartment)
    if entries:
        bundle["entry"] = entries
    return bundle
