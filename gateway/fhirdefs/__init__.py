"""R4 definition data (StructureDefinitions, ValueSets, CodeSystems; CC0), see SOURCES.md.

May import: stdlib only. StructureDefinitions sit in this folder (gateway.services.invariants
reads them by path); the ValueSets and CodeSystems behind required bindings sit in data/.
Callers cache what they derive: this loader reads the file every time it is asked.
"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def structure_definition(resource_type: str) -> dict | None:
    """The R4 StructureDefinition of `resource_type`, or None if it is not shipped here."""
    path = HERE / f"StructureDefinition-{resource_type}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def terminology() -> dict[str, dict]:
    """Every shipped ValueSet and CodeSystem, by canonical URL."""
    out = {}
    for path in sorted(DATA.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        out[resource["url"]] = resource
    return out


def shipped_types() -> list[str]:
    """The resource types whose StructureDefinition is shipped here."""
    return sorted(p.stem.split("-", 1)[1] for p in HERE.glob("StructureDefinition-*.json"))
