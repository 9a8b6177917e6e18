"""SQL for search: criteria -> conditions on the index tables, sort keys, keyset pages.

May import: sqlalchemy, gateway.store.models, gateway.services.search.*, stdlib. Everything is
filtered in SQL through the index tables; no resource JSON is loaded to decide a match.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, false, func, not_, or_, select, true
from sqlalchemy.sql import operators, visitors

from gateway.errors import BadRequest
from gateway.services.search.params import Criterion
from gateway.services.search.parts import Part, constant, either, negated, part
from gateway.services.search.values import MAX_LEN, normalize, parse_reference
from gateway.store.models import (DateIndexRow, ReferenceIndexRow, ResourceRow, ResourceVersionRow,
                                  StringIndexRow, TokenIndexRow)

# Core tables rather than the ORM classes: search selects columns only, and Core expressions
# skip the ORM attribute layer when built and its compile plugin when executed.
RESOURCES = ResourceRow.__table__
VERSIONS = ResourceVersionRow.__table__
TOKENS = TokenIndexRow.__table__
STRINGS = StringIndexRow.__table__
DATES = DateIndexRow.__table__
REFERENCES = ReferenceIndexRow.__table__

_MIN = datetime(1, 1, 1)
_MODELS = {"token": TOKENS, "string": STRINGS, "date": DATES, "reference": REFERENCES,
           "uri": TOKENS}  # uri values are indexed as tokens without a system


def _indexed(model, rtype, code, *conditions):
    # "pk IN (index lookup)" rather than a correlated EXISTS: the planner then walks the
    # (resource_type, param, value) index once instead of probing it for every resource row.
    return RESOURCES.c.pk.in_(select(model.c.resource_pk).where(
        model.c.resource_type == rtype, model.c.param == code, *conditions))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _date_match(prefix: str, low, high, lo_col, hi_col):
    """R4 search.html#prefix: the resource's range [lo_col, hi_col] against the value's [low, high]."""
    contained = and_(lo_col >= low, hi_col <= high)  # eq: the value's range holds the target's
    return {
        "eq": contained,
        "ne": or_(lo_col < low, hi_col > high),
        "gt": hi_col > high,  # the range above the value overlaps the target
        "lt": lo_col < low,  # the range below the value overlaps the target
        "ge": or_(hi_col > high, contained),
        "le": or_(lo_col < low, contained),
        "sa": lo_col > high,  # starts after: no overlap, entirely above
        "eb": hi_col < low,  # ends before: no overlap, entirely below
    }[prefix]


def _token_value(rtype: str, code: str, value) -> Part:
    system, token = value
    if code == "_id":
        if not token:
            return constant(("id-none",), false())
        return part(("id",), (token,), lambda b: RESOURCES.c.id == b[0])
    has_code = token is not None
    system_kind = "none" if system == "" else ("any" if system is None else "is")
    values = (rtype, code) + ((token[:MAX_LEN],) if has_code else ()) + (
        (system[:MAX_LEN],) if system_kind == "is" else ())

    def build(b):
        conditions, rest = [], list(b[2:])
        if has_code:
            conditions.append(TOKENS.c.code == rest.pop(0))
        if system_kind == "none":  # "|code": only values without a system
            conditions.append(TOKENS.c.system.is_(None))
        elif system_kind == "is":
            conditions.append(TOKENS.c.system == rest.pop(0))
        return _indexed(TOKENS, b[0], b[1], *conditions)
    return part(("token", has_code, system_kind), values, build)


def _string_value(rtype: str, code: str, modifier: str, value: str) -> Part:
    """R4 search.html#string: starts-with by default, :exact, :contains (both sides normalized)."""
    if modifier == "exact":
        return part(("string-exact",), (rtype, code, value[:MAX_LEN]),
                    lambda b: _indexed(STRINGS, b[0], b[1], STRINGS.c.exact == b[2]))
    norm = normalize(value)
    if modifier == "contains":
        return part(("string-contains",), (rtype, code, f"%{_like(norm)}%"),
                    lambda b: _indexed(STRINGS, b[0], b[1], STRINGS.c.norm.like(b[2], escape="\\")))
    if not norm:
        return part(("string-any",), (rtype, code), lambda b: _indexed(STRINGS, b[0], b[1]))
    # Starts-with as a range [norm, next string after every norm+...) so that the B-tree on norm
    # is used (LIKE ... ESCAPE defeats it on SQLite, and on a non-C PostgreSQL collation); the
    # substr test keeps the answer exact whatever the collation orders between the bounds.
    upper = norm[:-1] + chr(ord(norm[-1]) + 1) if ord(norm[-1]) < 0x10FFFF else norm + "\U0010ffff"
    return part(("string-prefix",), (rtype, code, norm, upper, len(norm), norm),
                lambda b: _indexed(STRINGS, b[0], b[1], STRINGS.c.norm >= b[2], STRINGS.c.norm < b[3],
                                   func.substr(STRINGS.c.norm, 1, b[4]) == b[5]))


def _date_value(rtype: str, code: str, value) -> Part:
    prefix, low, high = value
    if code == "_lastUpdated":
        return part(("lastUpdated", prefix), (low, high), lambda b: _date_match(
            prefix, b[0], b[1], RESOURCES.c.last_updated, RESOURCES.c.last_updated))
    return part(("date", prefix), (rtype, code, low, high), lambda b: _indexed(
        DATES, b[0], b[1], _date_match(prefix, b[2], b[3], DATES.c.low, DATES.c.high)))


def _reference_value(rtype: str, code: str, modifier: str, value: str, base_url: str) -> Part:
    """R4 search.html#reference: Type/id, id (any type, or the :Type modifier's), absolute URL."""
    if base_url and value.startswith(base_url.rstrip("/") + "/"):
        value = value[len(base_url.rstrip("/")) + 1:]  # our own URL: a local reference
    if "://" in value:
        return part(("ref-url",), (rtype, code, parse_reference(value)[2]),
                    lambda b: _indexed(REFERENCES, b[0], b[1], REFERENCES.c.url == b[2]))
    parts = value.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        parts = parts[:2]  # a versioned reference matches the resource (versions are not indexed)
    if len(parts) == 2 and parts[0] and parts[1] and (not modifier or modifier == parts[0]):
        return part(("ref-typed",), (rtype, code, parts[0], parts[1]), lambda b: _indexed(
            REFERENCES, b[0], b[1], REFERENCES.c.target_type == b[2], REFERENCES.c.target_id == b[3]))
    if len(parts) != 1:
        raise BadRequest(f"{code}={value!r} is not a reference (Type/id, id or absolute URL)",
                         expression=(code,))
    if modifier:
        return part(("ref-id-of",), (rtype, code, value, modifier), lambda b: _indexed(
            REFERENCES, b[0], b[1], REFERENCES.c.target_id == b[2], REFERENCES.c.target_type == b[3]))
    return part(("ref-id",), (rtype, code, value),
                lambda b: _indexed(REFERENCES, b[0], b[1], REFERENCES.c.target_id == b[2]))


def _missing(rtype: str, criterion: Criterion) -> Part:
    """R4 search.html#missing: :missing=true has no value for the parameter, false has one."""
    model = _MODELS[criterion.param.type]
    present = part(("present", criterion.param.type), (rtype, criterion.param.code),
                   lambda b: _indexed(model, b[0], b[1]))
    return negated(present) if criterion.values[0] else present


def criterion_part(criterion: Criterion, base_url: str, rtype: str) -> Part:
    code, modifier, kind = criterion.param.code, criterion.modifier, criterion.param.type
    if modifier == "missing":
        return _missing(rtype, criterion)
    parts = []
    for value in criterion.values:
        if kind in ("token", "uri"):
            parts.append(_token_value(rtype, code, value))
        elif kind == "string":
            parts.append(_string_value(rtype, code, modifier, value))
        elif kind == "date":
            parts.append(_date_value(rtype, code, value))
        else:
            parts.append(_reference_value(rtype, code, modifier, value, base_url))
    condition = either(parts)
    # :not (R4 search.html#token) also matches resources with no value at all
    return negated(condition) if modifier == "not" else condition


def _correlated(element):
    """`pk IN (SELECT resource_pk FROM idx WHERE ...)` -> `EXISTS (... AND resource_pk = pk)`."""
    if getattr(element, "operator", None) is operators.in_op and element.left is RESOURCES.c.pk:
        inner = getattr(element.right, "element", element.right)
        model = inner.selected_columns[0].table
        return exists(inner.where(model.c.resource_pk == RESOURCES.c.pk)).correlate(RESOURCES)
    return None


def pinned(inner: Part) -> Part:
    """The part for a search already confined to one resource (`_id=x`): each index lookup
    probes that resource's own index rows (by resource_pk) instead of collecting every match
    of the type first, so its cost no longer grows with the store. Subscription matching
    runs every write through such a search."""
    return Part(("pinned", inner.key), inner.values,
                lambda binds: visitors.replacement_traverse(inner.build(binds), {}, _correlated))


def criterion_condition(criterion: Criterion, base_url: str, rtype: str):
    return criterion_part(criterion, base_url, rtype).clause()


def compartment_part(resource_type: str, links: tuple[str, ...], patient_id: str) -> Part:
    """Rows in Patient/patient_id's compartment (R4 compartmentdefinition-patient)."""
    if resource_type == "Patient":
        return part(("own-patient",), (patient_id,), lambda b: RESOURCES.c.id == b[0])
    if not links:
        return constant(("no-compartment",), false())
    return part(("compartment", links), (patient_id, resource_type), lambda b: RESOURCES.c.pk.in_(
        select(REFERENCES.c.resource_pk).where(
            REFERENCES.c.target_type == "Patient", REFERENCES.c.target_id == b[0],
            REFERENCES.c.resource_type == b[1], REFERENCES.c.param.in_(links))))


def compartment_condition(resource_type: str, links: tuple[str, ...], patient_id: str):
    return compartment_part(resource_type, links, patient_id).clause()


def sort_expression(code: str, param_type: str, descending: bool, as_of_version: int | None):
    """A scalar per resource to order by; NULL-free so keyset comparisons stay simple.

    With `as_of_version`, _lastUpdated is the value as of that version snapshot (for resources
    updated since the first page: an update must not move a resource to a page already read).
    """
    if code == "_lastUpdated":
        if as_of_version is None:
            return RESOURCES.c.last_updated
        # newest version first along the (type, id, version) unique index: one index probe
        as_of = select(VERSIONS.c.last_updated).where(
            VERSIONS.c.resource_type == RESOURCES.c.resource_type,
            VERSIONS.c.id == RESOURCES.c.id,
            VERSIONS.c.pk <= as_of_version,
        ).order_by(VERSIONS.c.version_id.desc()).limit(1).scalar_subquery()
        return func.coalesce(as_of, RESOURCES.c.last_updated)
    if code == "_id":
        return RESOURCES.c.id
    pick = func.max if descending else func.min
    if param_type == "date":
        column = DATES.c.high if descending else DATES.c.low
        inner = select(pick(column)).where(DATES.c.resource_pk == RESOURCES.c.pk,
                                           DATES.c.param == code).scalar_subquery()
        return func.coalesce(inner, _MIN)
    inner = select(pick(STRINGS.c.norm)).where(STRINGS.c.resource_pk == RESOURCES.c.pk,
                                                    STRINGS.c.param == code).scalar_subquery()
    return func.coalesce(inner, "")


def touched_since(version_pk: int):
    """pks of resources written (updated, deleted, revived) after the version snapshot."""
    return select(VERSIONS.c.resource_pk).where(VERSIONS.c.pk > version_pk)


def keyset_condition(keys: list, values: list, forward: bool):
    """Rows strictly after (forward) or before the row whose key values are `values`.

    keys: [(expression, descending)], the last one being (RESOURCES.c.pk, False).
    """
    clauses = []
    for i, (expression, descending) in enumerate(keys):
        after = (expression < values[i]) if descending == forward else (expression > values[i])
        equal_before = [keys[j][0] == values[j] for j in range(i)]
        clauses.append(and_(*equal_before, after) if equal_before else after)
    return or_(*clauses) if clauses else true()
