"""SQL for search: criteria -> EXISTS conditions on the index tables, sort keys, keyset pages.

May import: sqlalchemy, gateway.store.models, gateway.services.search.*, stdlib. Everything is
filtered in SQL through the index tables; no resource JSON is loaded to decide a match.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, false, func, not_, or_, select, true

from gateway.errors import BadRequest
from gateway.services.search.params import Criterion
from gateway.services.search.values import normalize, parse_reference
from gateway.store.models import (DateIndexRow, ReferenceIndexRow, ResourceRow, StringIndexRow,
                                  TokenIndexRow)

_MIN, _MAX = datetime(1, 1, 1), datetime(9999, 12, 31)


def _exists(model, rtype: str, code: str, *conditions):
    # "pk IN (index lookup)" rather than a correlated EXISTS: the planner then walks the
    # (resource_type, param, value) index once instead of probing it for every resource row.
    return ResourceRow.pk.in_(select(model.resource_pk).where(
        model.resource_type == rtype, model.param == code, *conditions))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _date_match(prefix: str, low, high, lo_col, hi_col):
    """R4 search.html#prefix, comparing the resource range [lo_col, hi_col] with [low, high]."""
    return {
        "eq": and_(lo_col >= low, hi_col <= high),
        "ne": or_(lo_col < low, hi_col > high),
        "gt": hi_col > high, "lt": lo_col < low,
        "ge": hi_col >= low, "le": lo_col <= high,
        "sa": lo_col > high, "eb": hi_col < low,
    }[prefix]


def _token_value(rtype: str, code: str, modifier: str, value):
    system, token = value
    if code == "_id":
        return ResourceRow.id == token if token else false()
    conditions = []
    if token is not None:
        conditions.append(TokenIndexRow.code == token)
    if system == "":
        conditions.append(TokenIndexRow.system.is_(None))
    elif system is not None:
        conditions.append(TokenIndexRow.system == system)
    return _exists(TokenIndexRow, rtype, code, *conditions)


def _string_value(rtype: str, code: str, modifier: str, value: str):
    if modifier == "exact":
        return _exists(StringIndexRow, rtype, code, StringIndexRow.exact == value)
    norm = normalize(value)
    if modifier == "contains":
        return _exists(StringIndexRow, rtype, code, StringIndexRow.norm.like(f"%{_like(norm)}%", escape="\\"))
    # starts-with as a range, so the index on norm is used (LIKE ... ESCAPE defeats it in SQLite)
    return _exists(StringIndexRow, rtype, code, StringIndexRow.norm >= norm,
                   StringIndexRow.norm < norm + "\U0010ffff")


def _date_value(rtype: str, code: str, value):
    prefix, low, high = value
    if code == "_lastUpdated":
        return _date_match(prefix, low, high, ResourceRow.last_updated, ResourceRow.last_updated)
    return _exists(DateIndexRow, rtype, code, _date_match(prefix, low, high, DateIndexRow.low, DateIndexRow.high))


def _reference_value(rtype: str, code: str, modifier: str, value: str, base_url: str):
    if base_url and value.startswith(base_url + "/"):
        value = value[len(base_url) + 1:]
    if "://" in value:
        rtype, rid, url = parse_reference(value)
        return _exists(ReferenceIndexRow, rtype, code, ReferenceIndexRow.url == url)
    parts = value.split("/")
    if len(parts) == 2:
        return _exists(ReferenceIndexRow, rtype, code, ReferenceIndexRow.target_type == parts[0],
                       ReferenceIndexRow.target_id == parts[1])
    if len(parts) != 1:
        raise BadRequest(f"{code}={value!r} is not a reference (Type/id, id or URL)", expression=(code,))
    conditions = [ReferenceIndexRow.target_id == value]
    if modifier:
        conditions.append(ReferenceIndexRow.target_type == modifier)
    return _exists(ReferenceIndexRow, rtype, code, *conditions)


def criterion_condition(criterion: Criterion, base_url: str, resource_type: str):
    rtype = resource_type
    code, modifier, kind = criterion.param.code, criterion.modifier, criterion.param.type
    parts = []
    for value in criterion.values:
        if kind == "token":
            parts.append(_token_value(rtype, code, modifier, value))
        elif kind == "string":
            parts.append(_string_value(rtype, code, modifier, value))
        elif kind == "date":
            parts.append(_date_value(rtype, code, value))
        else:
            parts.append(_reference_value(rtype, code, modifier, value, base_url))
    condition = or_(*parts) if len(parts) > 1 else parts[0]
    return not_(condition) if modifier == "not" else condition


def compartment_condition(resource_type: str, links: tuple[str, ...], patient_id: str):
    if resource_type == "Patient":
        return ResourceRow.id == patient_id
    if not links:
        return false()
    return select(ReferenceIndexRow.pk).where(
        ReferenceIndexRow.resource_pk == ResourceRow.pk, ReferenceIndexRow.param.in_(links),
        ReferenceIndexRow.target_type == "Patient", ReferenceIndexRow.target_id == patient_id).exists()


def sort_expression(code: str, param_type: str, descending: bool):
    """A scalar per resource to order by; NULL-free so keyset comparisons stay simple."""
    if code == "_lastUpdated":
        return ResourceRow.last_updated
    if code == "_id":
        return ResourceRow.id
    pick = func.max if descending else func.min
    if param_type == "date":
        column = DateIndexRow.high if descending else DateIndexRow.low
        inner = select(pick(column)).where(DateIndexRow.resource_pk == ResourceRow.pk,
                                           DateIndexRow.param == code).scalar_subquery()
        return func.coalesce(inner, _MIN)
    inner = select(pick(StringIndexRow.norm)).where(StringIndexRow.resource_pk == ResourceRow.pk,
                                                    StringIndexRow.param == code).scalar_subquery()
    return func.coalesce(inner, "")


def keyset_condition(keys: list, values: list, forward: bool):
    """Rows strictly after (forward) or before the row whose key values are `values`.

    keys: [(expression, descending)], the last one being (ResourceRow.pk, False).
    """
    clauses = []
    for i, (expression, descending) in enumerate(keys):
        after = (expression < values[i]) if descending == forward else (expression > values[i])
        equal_before = [keys[j][0] == values[j] for j in range(i)]
        clauses.append(and_(*equal_before, after) if equal_before else after)
    return or_(*clauses) if clauses else true()
