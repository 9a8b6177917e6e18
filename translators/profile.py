"""Load translation profiles from data files, check them against profile.schema.json, index them.

May import: stdlib, jsonschema, yaml, translators.types. A profile file is named
`<id>@<version>.yaml` (or .json); the name must match its `id` and `version` fields. What JSON
Schema cannot say (a mapping's `map` names a value map that exists, a message's structure is
listed, a `{parent}` path has a parent rule) is checked after it by `_reference_problems`, and
every problem is reported the same way: file, JSON path, problem.
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


# libyaml's loader when PyYAML was built with it: ~8x faster, the same data (a test compares).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    # The schema ships with the code; the tests check it against the metaschema (check_schema
    # alone cost ~45 ms at every start).
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _json_path(error: jsonschema.ValidationError) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


def _problem(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, or the schema's `title` where that message would only show a regex."""
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    if title and error.validator == "pattern":
        return f"{error.instance!r} is not {title}"
    if title and error.validator == "not":
        return title
    return error.message


def _problems(data: dict, stem: str) -> list[tuple[str, str]]:
    """(JSON path, problem) pairs: schema errors, else broken cross-references; and a file
    name that does not match the content. All of them, so one edit fixes them all."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [(_json_path(e), _problem(e)) for e in errors] or _reference_problems(data)
    ident, version = data.get("id"), data.get("version")
    if isinstance(ident, str) and isinstance(version, str) and stem != f"{ident}@{version}":
        problems.append(("$.id/$.version", f"file must be named '{ident}@{version}' to match its content"))
    return problems


def _unknown(name, known, what: str) -> str | None:
    """None when `name` is in `known`, else the problem, listing what is known."""
    return None if name in known else f"{name!r} is not a {what}; known: {', '.join(sorted(known)) or 'none'}"


def _reference_problems(data: dict) -> list[tuple[str, str]]:
    """Names one part of a (schema-valid) profile uses and another part must define."""
    found: list[tuple[str, str | None]] = []
    declared = set(data["resources"])
    if "hl7v2" in data:
        found += _hl7v2_references(data["hl7v2"], declared)
    if "rest" in data:
        found += _rest_references(data["rest"], declared)
    if data["dialect"] != "local":
        found += _eligibility_declared(data, declared)
    return [(path, problem) for path, problem in found if problem]


_ELIGIBILITY = ("CoverageEligibilityRequest", "CoverageEligibilityResponse")


def _eligibility_declared(data: dict, declared: set[str]) -> list[tuple[str, str | None]]:
    """A backend profile serves the eligibility types exactly when it says how to ask
    (`rest.eligibility`): the CapabilityStatement is built from `resources`."""
    carried = "eligibility" in data.get("rest", {})
    found: list[tuple[str, str | None]] = [
        (f"$.resources.{rtype}", f"{rtype} is served only with $.rest.eligibility")
        for rtype in _ELIGIBILITY if rtype in declared and not carried]
    if carried:
        found += [("$.rest.eligibility", f"needs {rtype} in $.resources")
                  for rtype in _ELIGIBILITY if rtype not in declared]
        request = data["resources"].get(_ELIGIBILITY[0], {})
        if request and "create" not in request["interactions"]:
            found.append((f"$.resources.{_ELIGIBILITY[0]}.interactions", "an eligibility check is asked by create"))
        response = data["resources"].get(_ELIGIBILITY[1], {})
        found += [(f"$.resources.{_ELIGIBILITY[1]}.interactions", f"{_ELIGIBILITY[1]} is written only "
                   f"by the gateway: {name} is not offered to clients")
                  for name in ("create", "update", "patch", "delete") if name in response.get("interactions", ())]
    return found


def _map_references(section: str, spec: dict) -> list[tuple[str, str | None]]:
    """Each mapping line's `map` must name one of the section's value maps."""
    maps, what = set(spec.get("value_maps", {})), f"value map in $.{section}.value_maps"
    return [(f"$.{section}.mappings.{rtype}[{i}].map", _unknown(line["map"], maps, what))
            for rtype, lines in spec.get("mappings", {}).items()
            for i, line in enumerate(lines) if "map" in line]


def _hl7v2_references(spec: dict, declared: set[str]) -> list[tuple[str, str | None]]:
    maps, structures = set(spec.get("value_maps", {})), set(spec["structures"])
    found = _map_references("hl7v2", spec)
    for rtype, by_interaction in spec["messages"].items():
        found.append((f"$.hl7v2.messages.{rtype}", _unknown(rtype, declared, "resource type in $.resources")))
        for interaction, msg in by_interaction.items():
            key = "segments" if "segments" in msg else "structure"  # render builds from this list
            found.append((f"$.hl7v2.messages.{rtype}.{interaction}.{key}",
                          _unknown(msg[key], structures, "key of $.hl7v2.structures")))
            if interaction == "merge" and "merge" not in spec:  # MRG-1 is written by that rule
                found.append((f"$.hl7v2.messages.{rtype}.merge", "a merge message needs $.hl7v2.merge"))
    for rtype, rule in spec.get("query", {}).items():
        found += [(f"$.hl7v2.query.{rtype}.params.{name}.map",
                   _unknown(param["map"], maps, "value map in $.hl7v2.value_maps"))
                  for name, param in rule["params"].items() if "map" in param]
    # value_maps_in only extends a map on the way in; one naming no map would be silently ignored
    found += [(f"$.hl7v2.value_maps_in.{name}", _unknown(name, maps, "value map in $.hl7v2.value_maps"))
              for name in spec.get("value_maps_in", {})]
    return found


def _rest_references(spec: dict, declared: set[str]) -> list[tuple[str, str | None]]:
    records, found = spec.get("records", {}), _map_references("rest", spec)
    for rtype, rule in spec.get("search", {}).items():
        found += [(f"$.rest.search.{rtype}.fhir.{name}",
                   _unknown(criterion, set(rule.get("params", {})), f"criterion in $.rest.search.{rtype}.params"))
                  for name, criterion in rule.get("fhir", {}).items()]
    if "eligibility" in spec:
        found += _eligibility_references(spec, declared)
    for rtype, by_interaction in spec["endpoints"].items():
        found.append((f"$.rest.endpoints.{rtype}", _unknown(rtype, declared, "resource type in $.resources")))
        for interaction, endpoint in by_interaction.items():
            if "{parent}" in endpoint["path"] and "parent" not in records.get(rtype, {}):
                found.append((f"$.rest.endpoints.{rtype}.{interaction}.path",
                              f"uses {{parent}} but $.rest.records.{rtype}.parent is not declared"))
    for name, rule in spec.get("events", {}).get("types", {}).items():
        # an event is followed by a fetch of its record: the type needs a read endpoint
        readable = {t for t, by in spec["endpoints"].items() if "read" in by}
        found.append((f"$.rest.events.types.{name}.type",
                      _unknown(rule["type"], readable, "type with a read endpoint in $.rest.endpoints")))
        found += [(f"$.rest.events.types.{name}.also", _unknown(t, set(spec.get("mappings", {})),
                                                                "type with mappings in $.rest.mappings"))
                  for t in rule.get("also", [])]
    return found


def _eligibility_references(spec: dict, declared: set[str]) -> list[tuple[str, str | None]]:
    """Value maps named by the eligibility lines (request and every response block), the
    types the request's `ref` lines point at, and the `errors` pointers `error_answers` reads."""
    maps, what = set(spec.get("value_maps", {})), "value map in $.rest.value_maps"
    section = spec["eligibility"]
    found: list[tuple[str, str | None]] = []
    for i, line in enumerate(section["request"]):
        where = f"$.rest.eligibility.request[{i}]"
        if "map" in line:
            found.append((f"{where}.map", _unknown(line["map"], maps, what)))
        if "ref" in line:
            found.append((f"{where}.ref", _unknown(line["ref"], declared, "resource type in $.resources")))
    blocks = [("$.rest.eligibility.response", section["response"])]
    while blocks:
        where, block = blocks.pop(0)
        found += [(f"{where}.lines[{i}].map", _unknown(line["map"], maps, what))
                  for i, line in enumerate(block.get("lines", ())) if "map" in line]
        blocks += [(f"{where}.lists[{i}]", child) for i, child in enumerate(block.get("lists", ()))]
    if "error_answers" in section and "errors" not in spec:
        found.append(("$.rest.eligibility.error_answers", "reads the vendor's error code: $.rest.errors is needed"))
    return found


def parse_profile(text: str, source: str) -> Profile:
    """Parse and validate one profile document; ProfileError names source, path and problem."""
    try:
        data = yaml.load(text, Loader=_YAML_LOADER) if not source.endswith(".json") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{source}: not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: $: a profile must be a mapping")
    problems = _problems(data, Path(source).name.rsplit(".", 1)[0])
    if problems:
        lines = [f"{source}: {path}: {problem}" for path, problem in problems[:10]]
        if len(problems) > 10:
            lines.append(f"{source}: ... and {len(problems) - 10} more problems")
        raise ProfileError("\n".join(lines))
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
