"""Merging a vendor record into the FHIR resource the gateway already holds, element by
element. Pure.

May import: stdlib, translators.*. The vendor is the truth for the elements its profile maps,
and only for those: each mapped element of the freshly read record replaces (or, when the
vendor has no value, removes) the same element of the held resource; everything else the
resource carries (a work phone, a second identifier, a name's `use`) is kept. So a record
that says what the gateway already holds merges into an identical resource: an echo of the
gateway's own write changes nothing and mints no version.
"""
from __future__ import annotations

import copy

from translators.dialects.vendor_json import _first_path, rest_spec
from translators.paths import get_path, remove_path, set_path
from translators.types import Profile


def mapped_paths(profile: Profile, resource_type: str) -> list[str]:
    """The FHIR paths a vendor record of this type fills on read (`via` lines are sent only)."""
    lines = rest_spec(profile).get("mappings", {}).get(resource_type, [])
    return [_first_path(line["fhir"]) if "ref" in line else line["fhir"]
            for line in lines if "via" not in line]


def _overlay_mrn(out: dict, fresh: dict, options: dict) -> None:
    """The MRN identifier (mrn_system) takes the vendor's value; other identifiers stay. A
    record without one keeps the held MRN: it is the key, never cleared by an omission."""
    system = options.get("mrn_system", "urn:fhir-gateway:mrn")
    new = next((i for i in fresh.get("identifier", []) if i.get("system") == system), None)
    if new is None:
        return
    identifiers = out.setdefault("identifier", [])
    held = next((i for i in identifiers if i.get("system") == system), None)
    if held is None:
        identifiers.append(dict(new))
    elif held.get("value") != new.get("value"):
        held["value"] = new["value"]


def overlay(profile: Profile, resource_type: str, current: dict, fresh: dict,
            options: dict | None = None) -> dict:
    """`current` with every element the profile maps taken from `fresh` (a vendor record read
    with vendor_json.read); a new dict, `current` is left untouched."""
    options = options or {}
    out = copy.deepcopy(current)
    if "mrn" in rest_spec(profile).get("records", {}).get(resource_type, {}):
        _overlay_mrn(out, fresh, options)
    for path in mapped_paths(profile, resource_type):
        new, old = get_path(fresh, path), get_path(out, path)
        if new == old:
            continue
        if new is None:
            remove_path(out, path)
        else:
            set_path(out, path, copy.deepcopy(new))
    for default in rest_spec(profile).get("fhir_defaults", {}).get(resource_type, []):
        if "with" in default and get_path(out, default["with"]) is None:
            continue
        if get_path(out, default["fhir"]) is None:
            set_path(out, default["fhir"], copy.deepcopy(default["value"]))
    return out
