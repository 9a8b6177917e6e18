"""Shared fixtures: a migrated database per test on SQLite and on PostgreSQL, and a gateway app.

SQLite tests copy a template database migrated once per session (fast); PostgreSQL tests use a
schema of their own per session, emptied between tests. Set GATEWAY_TEST_POSTGRES_URL to an
empty string to leave PostgreSQL out (CI never does: .ci/run starts the server).
"""
from __future__ import annotations

import os
import shutil
import uuid

import pytest
from sqlalchemy import create_engine, text

from gateway.settings import settings_from_mapping
from gateway.store.migrate import upgrade
from gateway.store.models import Base

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    return os.environ.get("GATEWAY_TEST_POSTGRES_URL", DEFAULT_PG)


def _db_params():
    params = [pytest.param("sqlite", id="sqlite")]
    if postgres_base_url():
        params.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    return params


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def postgres_schema_url() -> str:
    """A PostgreSQL URL whose search_path is a fresh schema, migrated once per session."""
    base = postgres_base_url()
    schema = f"gw_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    upgrade(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=_db_params())
def database_url(request, tmp_path) -> str:
    """A migrated, empty database: SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_schema_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def settings_overrides(database_url, tmp_path) -> dict:
    return {"database_url": database_url, "data_dir": str(tmp_path), "auth": "off",
            "testing": True, "base_url": "http://gateway.test/fhir"}


@pytest.fixture
def app(settings_overrides):
    from gateway.app import create_app
    application = create_app(settings_from_mapping(settings_overrides))
    yield application
    application.extensions["fhir_gateway"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_gateway(settings_overrides):
    """A gateway with auth on, served on a real loopback socket: (FHIR base URL, app)."""
    import threading

    from werkzeug.serving import make_server

    from gateway.app import create_app
    server = make_server("127.0.0.1", 0, None, threaded=True)  # the port first: it is the aud
    base = f"http://127.0.0.1:{server.server_port}/fhir"
    application = create_app(settings_from_mapping(dict(settings_overrides, auth="on", base_url=base)))
    server.app = application
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base, application
    server.shutdown()
    application.extensions["fhir_gateway"].db.dispose()


@pytest.fixture
def ehr():
    """The sandbox HL7 v2 EHR (MLLP + its HTTP inbox) on loopback, for tests that deliver to it."""
    from conformance.sandbox.v2_ehr import V2Ehr
    sandbox = V2Ehr("127.0.0.1").start()
    yield sandbox
    sandbox.stop()

