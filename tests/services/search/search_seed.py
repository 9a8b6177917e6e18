"""Helpers for the search tests: the seed data (official R4 examples plus edge cases) and a
small Store that writes through the same path as the service (extract_index + repository).
"""
from __future__ import annotations

import copy
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import create_engine, text

from gateway.services.canonical import dumps, stamp
from gateway.services.search import extract_index, run_search
from gateway.store.db import Database
from gateway.store.models import Base
from gateway.store.resources import ResourceRepository

BASE = "http://gw.test/fhir"
EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "fhir-r4-examples"
T0 = datetime(2024, 1, 1, 8, 0, 0)  # the first seeded resource gets T0 + 1 min, and so on
LONG_FAMILY = "L" + "o" * 299 + "ng"  # longer than the index columns (255)


def example(name: str) -> dict:
    """An official R4 example from tests/data/fhir-r4-examples (narrative dropped)."""
    resource = json.loads((EXAMPLES / f"{name}.json").read_text())
    resource.pop("text", None)
    return resource


def pg_url() -> str:
    return os.environ.get("GATEWAY_TEST_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def backends():
    params = [pytest.param("sqlite", id="sqlite")]
    if pg_url():
        params.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    return params


def database(kind: str, tmp_path: Path, schema: str | None) -> tuple[Database, Callable[[], None]]:
    """An empty Database with the tables created: a SQLite file, or a PostgreSQL schema of its
    own. Returns it with the function that disposes of it (and drops the schema)."""
    if kind == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'search.db'}")
        Base.metadata.create_all(db.engine)
        return db, db.dispose
    admin = create_engine(pg_url())
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = pg_url()
    db = Database(f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}")
    Base.metadata.create_all(db.engine)

    def drop() -> None:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return db, drop


class Store:
    """A Database plus the write path the service uses (extract_index + repository)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = T0

    def put(self, resource: dict, now: datetime | None = None) -> dict:
        """Create or update `resource` (it must carry an id); returns the stored JSON."""
        now = now or self._tick()
        with self.db.transaction() as session:
            repo = ResourceRepository(session)
            existing = repo.current(resource["resourceType"], resource["id"])
            version = existing.version_id + 1 if existing else 1
            content = stamp(resource, resource["id"], version, now)
            index = extract_index(resource["resourceType"], content)
            if existing is None:
                repo.create(resource["resourceType"], resource["id"], dumps(content), index, now)
            else:
                repo.update(existing, dumps(content), index, now)
        return content

    def delete(self, resource_type: str, resource_id: str) -> None:
        with self.db.transaction() as session:
            repo = ResourceRepository(session)
            repo.delete(repo.current(resource_type, resource_id), self._tick())

    def _tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def search(self, resource_type: str, query: str | list = "", **kwargs) -> dict:
        params = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else query
        with self.db.read() as session:
            return run_search(session, resource_type, params, base_url=BASE, **kwargs)

    def ids(self, resource_type: str, query: str | list = "", **kwargs) -> set[str]:
        return set(matches(self.search(resource_type, query, **kwargs)))

    def follow(self, bundle: dict, relation: str) -> dict | None:
        """The page a link of `bundle` points to (None when there is no such link)."""
        url = next((link["url"] for link in bundle["link"] if link["relation"] == relation), None)
        if url is None:
            return None
        parts = urlsplit(url)
        return self.search(parts.path.rsplit("/", 1)[1], parse_qsl(parts.query))


def matches(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def seed_resources() -> list[dict]:
    """Official R4 examples plus a few made for edge cases (accents, long values, ranges)."""
    names = ["Patient-example", "Patient-f001", "Patient-f201", "Patient-glossy", "Patient-mom",
             "Patient-newborn", "Patient-pat1", "Patient-pat2", "Patient-pat3", "Patient-pat4",
             "Patient-xds", "Patient-ch-example", "Patient-infant-twin-1",
             "Appointment-example", "Appointment-2docs", "Appointment-examplereq",
             "Coverage-9876B1", "Coverage-7546D", "Coverage-SP1234", "Coverage-7547E",
             "DocumentReference-example"]
    made = [example(n) for n in names]
    muller = copy.deepcopy(example("Patient-mom"))
    muller.update(id="muller", name=[{"family": "Müller", "given": ["Zoë", "Ana_Lía"]}],
                  birthDate="1973-06", telecom=[{"system": "email", "value": "zoe@example.org"},
                                                {"system": "phone", "value": "555-555-2003"}],
                  address=[{"postalCode": "80331", "city": "München"}])
    made.append(muller)
    made.append({"resourceType": "Patient", "id": "longname", "gender": "unknown",
                 "identifier": [{"value": "NOSYS-1"}],
                 "name": [{"family": LONG_FAMILY, "given": ["Percent%Sign"]}]})
    made += [
        {"resourceType": "Appointment", "id": "evening", "status": "booked",
         "start": "2024-05-01T22:30:00-04:00", "end": "2024-05-01T23:30:00-04:00",
         "serviceType": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/service-type",
                                      "code": "124", "display": "General Practice"}]}],
         "participant": [{"actor": {"reference": "Patient/muller"}, "status": "accepted"},
                         {"actor": {"reference": "Location/2"}, "status": "accepted"}]},
        {"resourceType": "Coverage", "id": "muller-cov", "status": "cancelled",
         "identifier": [{"system": "http://payer.example/member", "value": "M-77"}],
         "beneficiary": {"reference": "Patient/muller"},
         "subscriber": {"reference": f"{BASE}/Patient/example"},
         "payor": [{"reference": "Organization/2"}]},
        {"resourceType": "DocumentReference", "id": "muller-note", "status": "superseded",
         "subject": {"reference": "Patient/muller"}, "date": "2024-05-02T10:00:00Z",
         "author": [{"reference": "Patient/example"}],
         "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
         "content": [{"attachment": {"contentType": "text/plain", "data": "aGk="}}]},
        {"resourceType": "Binary", "id": "blob", "contentType": "text/plain", "data": "aGk="},
    ]
    return made

