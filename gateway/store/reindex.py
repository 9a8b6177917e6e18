"""IndexRebuild: the store side of `fhir-gateway db reindex` (rewrite every idx_* row from the
stored current resource JSON), and ANALYZE.

May import: sqlalchemy, stdlib, gateway.store.models/indexes. The services compute the index
values (gateway.services.search.extract_index); this module only walks the resources in pk
batches and replaces their rows, a batch per call, inside the caller's transaction.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from gateway.store.indexes import IndexRows
from gateway.store.models import (DateIndexRow, ReferenceIndexRow, ResourceRow, StringIndexRow,
                                  TokenIndexRow)

_INDEX_MODELS = (TokenIndexRow, StringIndexRow, DateIndexRow, ReferenceIndexRow)


def rebuild_batch(session: Session, after_pk: int, limit: int,
                  index_of: Callable[[str, str], IndexRows]) -> tuple[int, int, int]:
    """Replace the index rows of the next `limit` resources with pk > after_pk.

    `index_of(resource_type, content)` gives a live resource's rows; a deleted resource gets
    none (its stale rows are removed). Returns (last pk seen, resources, index rows written);
    last pk 0 means there was nothing left. The batch's resource rows are locked (FOR UPDATE on
    PostgreSQL; SQLite's writer lock does it there) so a concurrent update cannot be indexed
    from a content older than itself.
    """
    rows = session.execute(
        select(ResourceRow.pk, ResourceRow.resource_type, ResourceRow.deleted, ResourceRow.content)
        .where(ResourceRow.pk > after_pk).order_by(ResourceRow.pk).limit(limit)
        .with_for_update()).all()
    if not rows:
        return 0, 0, 0
    pks = [row.pk for row in rows]
    for model in _INDEX_MODELS:
        session.execute(delete(model).where(model.resource_pk.in_(pks)))
    batches: dict[type, list[dict]] = {model: [] for model in _INDEX_MODELS}
    for row in rows:
        if row.deleted or row.content is None:
            continue
        index = index_of(row.resource_type, row.content)
        base = {"resource_pk": row.pk, "resource_type": row.resource_type}
        batches[TokenIndexRow] += [dict(base, param=p, system=s, code=c) for p, s, c in index.tokens]
        batches[StringIndexRow] += [dict(base, param=p, norm=n, exact=e) for p, n, e in index.strings]
        batches[DateIndexRow] += [dict(base, param=p, low=lo, high=hi) for p, lo, hi in index.dates]
        batches[ReferenceIndexRow] += [dict(base, param=p, target_type=t, target_id=i, url=u)
                                       for p, t, i, u in index.references]
    for model, values in batches.items():
        if values:
            session.execute(insert(model), values)  # executemany: one round trip per table
    return pks[-1], len(rows), sum(len(values) for values in batches.values())


def analyze(session: Session) -> None:
    """Refresh the planner statistics (SQLite sqlite_stat1, PostgreSQL pg_statistic)."""
    session.execute(text("ANALYZE"))
