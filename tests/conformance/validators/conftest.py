"""Fixtures for the validator tests: the deliberately broken resources and the official examples
(tests/data/fhir-r4-examples, CC0, see its SOURCES.md)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "fhir-r4-examples"


@pytest.fixture(scope="session")
def examples() -> tuple[list[str], list[dict]]:
    paths = sorted(EXAMPLES.glob("*.json"))
    return [p.name for p in paths], [json.loads(p.read_text(encoding="utf-8")) for p in paths]


@pytest.fixture(scope="session")
def broken() -> dict[str, dict]:
    return {
        "gender-M": {"resourceType": "Patient", "gender": "M"},
        "start-no-end": {"resourceType": "Appointment", "status": "booked", "start": "2026-01-01T09:00:00Z",
                         "participant": [{"status": "accepted", "actor": {"reference": "Patient/1"}}]},
        "unknown-element": {"resourceType": "Patient", "shoeSize": 9},
        "wrong-type": {"resourceType": "Patient", "name": "Smith"},
    }
