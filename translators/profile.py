"""Load translation profiles from data files, check them against profile.schema.json, index them.

May import: stdlib, jsonschema, yaml, translators.types. A profile file is named
`<id>@<version>.yaml` (or .json); the name must match its `id` and `version` fields.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import jsonschema
import yaml

from translators.types import Profile, ProfileError, ResourceSupport

PROFILE_DIR = Path(__file__).with_name("profiles")
SCHEMA_PATH = Path(__file__).with_name("profile.schema.json")


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _json_path(error: jsonschema.ValidationError) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


def parse_profile(text: str, source: str) -> Profile:
    """Parse and validate one profile document; ProfileError names source, path and problem."""
    try:
        data = yaml.safe_load(text) if not source.endswith(".json") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{source}: not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: $: a profile must be a mapping")
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{source}: {_json_path(e)}: {e.message}" for e in errors[:10]]
        raise ProfileError("\n".join(lines))
    stem = Path(source).name.rsplit(".", 1)[0]
    if stem != f"{data['id']}@{data['version']}":
        raise ProfileError(f"{source}: $.id/$.version: file must be named "
                           f"'{data['id']}@{data['version']}' to match its content")
    resources = {
        name: ResourceSupport(
            type=name,
            interactions=tuple(spec["interactions"]),
            search_params=tuple(spec.get("search_params", ())),
            operations=tuple(spec.get("operations", ())),
        )
        for name, spec in data["resources"].items()
    }
    return Profile(
        id=data["id"], version=str(data["version"]), dialect=data["dialect"],
        backend_version=str(data["backend_version"]), description=data.get("description", ""),
        resources=resources, data=data, source=Path(source).name,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def profile_files(directory: Path = PROFILE_DIR) -> Iterable[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml", ".json")
                  and "@" in p.name)


def load_profiles(directory: Path = PROFILE_DIR) -> dict[str, Profile]:
    """Every profile version in `directory`, keyed by '<id>@<version>'."""
    profiles: dict[str, Profile] = {}
    for path in profile_files(directory):
        profile = parse_profile(path.read_text(encoding="utf-8"), str(path))
        profiles[profile.key] = profile
    return profiles
