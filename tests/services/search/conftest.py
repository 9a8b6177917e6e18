"""Fixtures for the search tests: a store seeded once per session (read-only tests) and an empty
store per test (paging under writes), each on SQLite and on PostgreSQL.

PostgreSQL runs in a schema of its own (search_seed.database: created, then dropped); set
GATEWAY_TEST_POSTGRES_URL to an empty string to leave PostgreSQL out.
"""
from __future__ import annotations

import uuid

import pytest
from search_seed import Store, backends, database, seed_resources


@pytest.fixture(scope="session", params=backends())
def seeded(request, tmp_path_factory):
    """A store holding seed_resources(), shared by every read-only test (do not write to it)."""
    schema = f"gw_search_{uuid.uuid4().hex[:10]}"
    db, cleanup = database(request.param, tmp_path_factory.mktemp("seeded"), schema)
    store = Store(db)
    for resource in seed_resources():
        store.put(resource)
    yield store
    cleanup()


@pytest.fixture(params=backends())
def empty(request, tmp_path):
    """An empty store of its own, for tests that write while they search."""
    schema = f"gw_search_{uuid.uuid4().hex[:10]}"
    db, cleanup = database(request.param, tmp_path, schema)
    yield Store(db)
    cleanup()
