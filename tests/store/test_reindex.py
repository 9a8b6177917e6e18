"""`fhir-gateway db reindex`: index rows written by an older build (or lost) are rebuilt from
the stored resource JSON, after which search finds the resource again; SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import text

from gateway.cli import main
from gateway.services.canonical import dumps, stamp
from gateway.services.reindex import reindex
from gateway.services.search import extract_index, run_search
from gateway.store.db import Database
from gateway.store.resources import ResourceRepository

NOW = datetime(2026, 1, 1, 12, 0, 0)
BASE = "http://gateway.test/fhir"


def _put(db: Database, resource: dict) -> None:
    content = stamp(resource, resource["id"], 1, NOW)
    with db.transaction() as session:
        ResourceRepository(session).create(resource["resourceType"], resource["id"], dumps(content),
                                           extract_index(resource["resourceType"], content), NOW)


def _ids(db: Database, resource_type: str, params: list[tuple[str, str]]) -> set[str]:
    with db.read() as session:
        bundle = run_search(session, resource_type, params, base_url=BASE)
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"}


def _index_rows(db: Database) -> list[tuple]:
    """(table, resource id, values...) of every index row; the row's own pk left out."""
    with db.read() as session:
        return sorted(tuple(row[:2]) + tuple(row[3:]) for table in ("idx_token", "idx_string", "idx_date", "idx_reference")
                      for row in session.execute(text(
                          f"SELECT '{table}', r.id, i.* FROM {table} i JOIN resources r "
                          "ON r.pk = i.resource_pk")).all())


def _as_an_older_build_left_it(db: Database) -> None:
    """gender without its token system (older extraction rule), the Appointment's date rows lost,
    and a stale row of a resource deleted since."""
    with db.transaction() as session:
        session.execute(text("UPDATE idx_token SET system = NULL WHERE param = 'gender'"))
        session.execute(text("DELETE FROM idx_date WHERE resource_type = 'Appointment'"))
        session.execute(text("UPDATE resources SET deleted = :t, content = NULL WHERE id = 'gone'"),
                        {"t": True})


@pytest.fixture
def store(database_url):
    db = Database(database_url)
    _put(db, {"resourceType": "Patient", "id": "p1", "gender": "female",
              "name": [{"family": "Okafor", "given": ["Ada"]}]})
    _put(db, {"resourceType": "Patient", "id": "gone", "gender": "female",
              "name": [{"family": "Okafor"}]})
    _put(db, {"resourceType": "Appointment", "id": "a1", "status": "booked",
              "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T09:30:00Z",
              "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"}]})
    yield db
    db.dispose()


GENDER = [("gender", "http://hl7.org/fhir/administrative-gender|female")]
DATE = [("date", "ge2026-03-02T09:10:00Z"), ("date", "le2026-03-02T09:20:00Z")]


def test_stale_and_missing_rows_are_rebuilt_and_search_finds_the_resources(store):
    fresh = _index_rows(store)
    assert _ids(store, "Patient", GENDER) == {"p1", "gone"}
    _as_an_older_build_left_it(store)
    assert _ids(store, "Patient", GENDER) == set()  # the stale rows hide p1
    assert _ids(store, "Appointment", DATE) == set()  # the lost date rows hide a1

    summary = reindex(store, batch_size=2)

    assert (summary.resources, summary.batches) == (3, 2)
    assert _ids(store, "Patient", GENDER) == {"p1"}
    assert _ids(store, "Appointment", DATE) == {"a1"}
    rebuilt = _index_rows(store)
    assert rebuilt == [row for row in fresh if row[1] != "gone"]  # the deleted one has none left
    assert summary.index_rows == len(rebuilt)


def test_reindex_is_idempotent_and_analyzes(store):
    reindex(store)
    first = _index_rows(store)
    again = reindex(store, batch_size=1)
    assert _index_rows(store) == first and again.batches == 3
    if store.dialect == "sqlite":
        with store.read() as session:
            assert session.execute(text("SELECT count(*) FROM sqlite_stat1")).scalar() > 0


def test_reindex_refuses_a_batch_size_below_one(store):
    with pytest.raises(ValueError, match="batch size"):
        reindex(store, batch_size=0)


def test_cli_reindex_prints_progress_and_a_summary(store, database_url, monkeypatch, tmp_path, capsys):
    _as_an_older_build_left_it(store)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    assert main(["db", "reindex", "--batch-size", "2"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["reindexed"] == 3 and summary["batches"] == 2 and summary["analyzed"] is True
    assert "reindexed 2 resources" in err and "reindexed 3 resources" in err
    assert _ids(store, "Patient", GENDER) == {"p1"}


def test_cli_reindex_asks_for_the_migrations_first(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    assert main(["db", "reindex"]) == 2
    assert "fhir-gateway db upgrade" in capsys.readouterr().err
