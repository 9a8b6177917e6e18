"""Demo seed data: a transaction Bundle of fictional patients, an appointment and a coverage.

Every entry is a conditional create (ifNoneExist on its identifier), so seeding twice changes
nothing. All people and numbers are invented.
"""
from __future__ import annotations

import json
from pathlib import Path

SEED_BUNDLE = Path(__file__).with_name("demo-bundle.json")


def demo_bundle() -> dict:
    return json.loads(SEED_BUNDLE.read_text(encoding="utf-8"))
