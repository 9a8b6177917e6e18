"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from gateway.store.migrate import current_revision, head_revision
from gateway.store.models import Base


def test_migrated_schema_matches_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_app_refuses_an_unmigrated_database(tmp_path):
    import pytest

    from gateway.app import create_app
    from gateway.settings import ConfigError, settings_from_mapping
    settings = settings_from_mapping({"database_url": f"sqlite:///{tmp_path / 'empty.db'}", "auth": "off"})
    with pytest.raises(ConfigError, match="fhir-gateway db upgrade"):
        create_app(settings)
