"""reindex: rebuild every search index row from the stored current resource JSON.

May import: gateway.store, gateway.services.search, stdlib. Databases written by older builds
hold index rows made by older extraction rules (token systems for gender/status, Appointment
date as start..end), so search misses what it should find until they are rebuilt. The work
runs in batches of its own transactions (a live server keeps serving between them), is
idempotent (run it again and the rows are the same), and ends with ANALYZE so the planner
knows the rebuilt indexes.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable

from gateway.services.search import extract_index
from gateway.store.db import Database
from gateway.store.indexes import IndexRows
from gateway.store.reindex import analyze, rebuild_batch


@dataclass(frozen=True)
class ReindexSummary:
    resources: int
    index_rows: int
    batches: int
    seconds: float


def _index_of(resource_type: str, content: str) -> IndexRows:
    return extract_index(resource_type, json.loads(content))


def reindex(db: Database, *, batch_size: int = 500,
            progress: Callable[[int, int], None] = lambda _resources, _rows: None) -> ReindexSummary:
    """Rewrite the idx_* rows of every resource; `progress(resources, rows)` after each batch."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    started = time.monotonic()
    after_pk, resources, rows, batches = 0, 0, 0, 0
    while True:
        with db.transaction() as session:
            after_pk, done, written = rebuild_batch(session, after_pk, batch_size, _index_of)
        if done == 0:
            break
        resources, rows, batches = resources + done, rows + written, batches + 1
        progress(resources, rows)
    with db.transaction() as session:
        analyze(session)
    return ReindexSummary(resources, rows, batches, round(time.monotonic() - started, 3))
