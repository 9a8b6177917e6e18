"""run_search: one search request from parameters to a searchset Bundle (R4 search.html).

May import: sqlalchemy, gateway.store.models, gateway.resources, gateway.errors,
gateway.services.search.*, gateway.services.canonical, stdlib. Paging is keyset-based with an opaque `_page` token holding
the last row's sort values, its pk and a snapshot (max resource pk and max version pk at the
first page), so rows inserted or updated while a client pages neither shift nor repeat results.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlencode

from sqlalchemy import bindparam, func, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gateway.errors import BadRequest, Issue, NotFound, operation_outcome
from gateway.services.canonical import StoredJSON
from gateway.resources import resource_types
from gateway.services.search.params import COMMON, SearchRequest, encode_cursor, parse_search
from gateway.services.search.parts import Part, build_all, constant, part
from gateway.services.search.query import (REFERENCES, RESOURCES, VERSIONS, compartment_part,
                                           criterion_part, keyset_condition, pinned,
                                           sort_expression, touched_since)
from gateway.services.search.shape import shape


@dataclass(frozen=True)
class Snapshot:
    """The store as the first page saw it: later pages ignore rows and versions beyond it."""

    resource_pk: int
    version_pk: int


def _compartment_parts(resource_type: str, compartment: tuple[str, str] | None) -> list[Part]:
    if compartment is None:
        return []
    links = resource_types()[resource_type].patient_compartment
    return [compartment_part(resource_type, links, compartment[1])]


def _compartment(resource_type: str, compartment: tuple[str, str] | None) -> list:
    return [p.clause() for p in _compartment_parts(resource_type, compartment)]


_LIVE = constant(("live",), RESOURCES.c.deleted.is_(False))


def _base_parts(resource_type: str, request: SearchRequest, base_url: str,
                compartment: tuple[str, str] | None) -> list[Part]:
    parts = [_LIVE]
    # One _id value: the (type, id) row drives the query and each index test probes only its
    # rows (query.pinned). Otherwise a positive index lookup already confines rows to the type
    # (index rows carry it); leaving the type test out then lets SQLite drive the query from the
    # index hits (rowid lookups) instead of scanning every row of the type, even without ANALYZE.
    one = any(c.param.code == "_id" and not c.modifier and len(c.values) == 1 and c.values[0][1]
              for c in request.criteria)
    if one or not any(c.param.code not in COMMON and c.modifier not in ("not", "missing")
                      for c in request.criteria):
        parts.append(part(("type",), (resource_type,), lambda b: RESOURCES.c.resource_type == b[0]))
    criteria = [criterion_part(c, base_url, resource_type) for c in request.criteria]
    parts += [pinned(p) for p in criteria] if one else criteria
    return parts + _compartment_parts(resource_type, compartment)


def _base_conditions(resource_type: str, request: SearchRequest, base_url: str,
                     compartment: tuple[str, str] | None) -> list:
    return [p.clause() for p in _base_parts(resource_type, request, base_url, compartment)]


# Prebuilt: a constant statement is built and cache-keyed once, not on every search.
_MAX_PKS = (select(func.max(RESOURCES.c.pk)).correlate(None).scalar_subquery(),
            select(func.max(VERSIONS.c.pk)).correlate(None).scalar_subquery())
_SNAPSHOT = select(*_MAX_PKS)


def _total(session: Connection, conditions: list, snapshot: Snapshot) -> int:
    return session.execute(select(func.count()).select_from(RESOURCES).where(
        *conditions, RESOURCES.c.pk <= snapshot.resource_pk)).scalar_one()


class _Shape:
    """A first-page statement's cache entry: hashed and compared by `key` alone, it carries
    what builds the statement on a miss."""

    def __init__(self, key: tuple, build) -> None:
        self.key, self.build = key, build

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Shape) and other.key == self.key


@lru_cache(maxsize=512)
def _cached_statement(shape: _Shape):
    # A pure function of the key (equal keys build equal SQL), like extract._compile: the
    # statement object is reused, so SQLAlchemy derives its cache key once, not per search.
    return shape.build()


def _first_page_statement(parts: list[Part], resource_type: str, request: SearchRequest,
                          want_total: bool):
    def build():
        binds = [bindparam(f"p{i}", v) for i, v in enumerate(v for p in parts for v in p.values)]
        conditions = build_all(parts, binds)
        extra = list(_MAX_PKS)
        if want_total:
            extra.append(select(func.count()).select_from(RESOURCES).where(*conditions)
                         .correlate(None).scalar_subquery())
        page = _branch(conditions, _keys(resource_type, request, None), request, True)
        return page.add_columns(*extra)
    key = (resource_type, tuple(p.key for p in parts), tuple(request.sort), request.count, want_total)
    return _cached_statement(_Shape(key, build)), len(_MAX_PKS) + want_total


def _first_page(session: Connection, parts: list[Part], resource_type: str, request: SearchRequest,
                want_total: bool) -> tuple[list, bool, Snapshot, int | None]:
    """A first page, its snapshot and the total from ONE statement (scalar subqueries, each
    evaluated once): one round trip, and all three see the same store even under READ
    COMMITTED. Nothing was written after a snapshot taken in the same statement, so the
    _lastUpdated "as of" branch is not needed here, nor the pk <= snapshot bound.
    """
    statement, extra = _first_page_statement(parts, resource_type, request, want_total)
    values = {f"p{i}": v for i, v in enumerate(v for p in parts for v in p.values)}
    rows = session.execute(statement, values).all()
    if not rows:  # an empty first page: nothing matches (count >= 1 here)
        return [], False, Snapshot(0, 0), 0 if want_total else None
    last = rows[0][-extra:]
    snapshot = Snapshot(last[0] or 0, last[1] or 0)
    rows = [tuple(row)[:-extra] for row in rows]
    return rows[:request.count], len(rows) > request.count, snapshot, last[2] if want_total else None


def _snapshot(session: Connection, request: SearchRequest) -> Snapshot:
    if request.cursor is not None:
        return Snapshot(request.cursor["m"], request.cursor["v"])
    row = session.execute(_SNAPSHOT).one()
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
    keys.append((RESOURCES.c.pk, bool(request.sort) and request.sort[0][1], False))
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
    columns = [RESOURCES.c.pk.label("pk"), RESOURCES.c.content.label("content"),
               RESOURCES.c.id.label("id")] + [e.label(f"k{i}") for i, (e, _d, _) in enumerate(keys[:-1])]
    return select(*columns).where(*where).order_by(*order).limit(request.count + 1)


def _statement(conditions: list, resource_type: str, request: SearchRequest, snapshot: Snapshot,
               forward: bool):
    conditions = conditions + [RESOURCES.c.pk <= snapshot.resource_pk]
    if not any(code == "_lastUpdated" for code, _ in request.sort):
        return _branch(conditions, _keys(resource_type, request, None), request, forward)
    # Sorting by _lastUpdated: rows untouched since the snapshot walk the (type, lastUpdated)
    # index in order; the few written since get their lastUpdated as of the snapshot.
    touched = touched_since(snapshot.version_pk)
    plain = _branch(conditions + [RESOURCES.c.pk.not_in(touched)],
                    _keys(resource_type, request, None), request, forward)
    as_of = _branch(conditions + [RESOURCES.c.pk.in_(touched)],
                    _keys(resource_type, request, snapshot.version_pk), request, forward)
    both = union_all(plain.subquery().select(), as_of.subquery().select()).subquery()
    order = [both.c[f"k{i}"] for i in range(len(request.sort))] + [both.c.pk]
    directions = [d for _c, d in request.sort] + [request.sort[0][1]]
    return (select(both).order_by(*[(c.desc() if d == forward else c.asc())
                                    for c, d in zip(order, directions)])
            .limit(request.count + 1))


def _page(session: Connection, conditions: list, resource_type: str, request: SearchRequest,
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


def _rows(session: Connection, *conditions) -> list[tuple]:
    """(type, id, content) of live resources matching `conditions`, in storage order."""
    return session.execute(select(RESOURCES.c.resource_type, RESOURCES.c.id, RESOURCES.c.content)
                           .where(RESOURCES.c.deleted.is_(False), *conditions)
                           .order_by(RESOURCES.c.pk)).all()


def _included(session: Connection, pks: list[int], ids: list[str], resource_type: str,
              request: SearchRequest, compartment: tuple[str, str] | None) -> list[tuple]:
    """(type, id, content) of the _include / _revinclude targets of this page (R4 #include).

    Under a compartment, included resources are confined to it as well: an Appointment of
    this patient must not bring in another patient through _include.
    """
    found: list[tuple] = []
    for source, code, target in request.includes:
        if source != resource_type or not pks:
            continue
        refs = (select(REFERENCES.c.target_type, REFERENCES.c.target_id)
                .where(REFERENCES.c.resource_pk.in_(pks), REFERENCES.c.param == code))
        if target:
            refs = refs.where(REFERENCES.c.target_type == target)
        for target_type, target_ids in _group(session.execute(refs).all()).items():
            found += _rows(session, RESOURCES.c.resource_type == target_type,
                           RESOURCES.c.id.in_(target_ids), *_compartment(target_type, compartment))
    for source, code, _target in request.revincludes:
        if not ids:
            continue
        referring = select(REFERENCES.c.resource_pk).where(
            REFERENCES.c.resource_type == source, REFERENCES.c.param == code,
            REFERENCES.c.target_type == resource_type, REFERENCES.c.target_id.in_(ids))
        found += _rows(session, RESOURCES.c.resource_type == source, RESOURCES.c.pk.in_(referring),
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
    # shape() hands an unchanged resource back as is: a StoredJSON, whose text the response
    # copies (canonical.to_json) instead of encoding the dict again
    return [{"fullUrl": f"{base_url}/{t}/{i}",
             "resource": shape(StoredJSON(content), request.summary, request.elements),
             "search": {"mode": mode}}
            for mode, group in (("match", matched), ("include", included))
            for (t, i), content in group]


def run_search(session: Session | Connection, resource_type: str, params: list[tuple[str, str]], *,
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
    # Every statement here selects columns, never ORM objects: running them on the session's
    # Connection skips Session.execute's ORM layer (a third of a search's time when profiled).
    session = session.connection() if isinstance(session, Session) else session
    request = parse_search(facts, params, known, default_count=default_count, max_count=max_count)
    if request.unknown and handling == "strict":  # R4 search.html#errors, Prefer: handling
        raise BadRequest(f"Unknown search parameter {request.unknown[0]!r} "
                         "(Prefer: handling=strict)", expression=(request.unknown[0],))
    parts = _base_parts(resource_type, request, base_url, compartment)
    want_total = request.total != "none" or request.summary == "count"
    bundle: dict = {"resourceType": "Bundle", "type": "searchset"}
    entries = [_outcome_entry(request.unknown)] if request.unknown else []
    conditions = [p.clause() for p in parts] if request.cursor is not None or (
        request.summary == "count" or request.count == 0) else []
    if request.summary == "count" or request.count == 0:
        if want_total:
            bundle["total"] = _total(session, conditions, _snapshot(session, request))
        bundle["link"] = [{"relation": "self", "url": _link(base_url, resource_type, request.kept)}]
    else:
        if request.cursor is None:
            rows, more, snapshot, total = _first_page(session, parts, resource_type, request,
                                                      want_total)
            forward = True
        else:
            snapshot = _snapshot(session, request)
            total = _total(session, conditions, snapshot) if want_total else None
            rows, more, forward = _page(session, conditions, resource_type, request, snapshot)
        if want_total:
            bundle["total"] = total
        bundle["link"] = _links(base_url, resource_type, request, rows, more, forward, snapshot)
        entries += _entries(session, rows, resource_type, request, base_url, compartment)
    if entries:
        bundle["entry"] = entries
    return bundle
