"""The vendor REST/JSON dialect: FHIR resource <-> a vendor's JSON record, by declarative
mapping (JSON pointers, value maps, named transforms) in a profile's `rest` section. Pure.

May import: stdlib, translators.*. The HTTP call itself (auth, paging, errors) lives in
gateway.transports.http; this module only says what to send and how to read the answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from translators.paths import get_path, set_path
from translators.types import Profile, TranslateContext, TranslationError



@dataclass(frozen=True)
class VendorRequest:
    method: str
    path: str
    json: dict = field(default_factory=dict)
    backend_id: str | None = None  # known before the call (update), else read from the answer


def _spec(profile: Profile) -> dict:
    spec = profile.data.get("rest")
    if not isinstance(spec, dict):
        raise TranslationError(profile.key, "profile has no rest section")
    return spec


def _pointer_get(document: dict, pointer: str):
    current: Any = document
    for token in pointer.lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")  # RFC 6901
        if not isinstance(current, dict) or token not in current:
            return None
        current = current[token]
    return current


def _pointer_set(document: dict, pointer: str, value) -> None:
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]
    current = document
    for token in tokens[:-1]:
        current = current.setdefault(token, {})
    current[tokens[-1]] = value


def _mrn(resource: dict, ctx: TranslateContext) -> str:
    system = ctx.options.get("mrn_system", "urn:fhir-gateway:mrn")
    for identifier in resource.get("identifier", []):
        if identifier.get("system") == system and identifier.get("value"):
            return identifier["value"]
    return resource["id"]


def render(profile: Profile, interaction: str, resource: dict, ctx: TranslateContext) -> VendorRequest:
    spec, rtype = _spec(profile), resource.get("resourceType")
    endpoint = spec.get("endpoints", {}).get(rtype, {}).get(interaction)
    if endpoint is None:
        raise TranslationError(f"{rtype}.{interaction}", f"profile {profile.key} has no endpoint for it")
    body: dict = {}
    if "mrn" in spec.get("records", {}).get(rtype, {}):
        _pointer_set(body, spec["records"][rtype]["mrn"], _mrn(resource, ctx))
    maps = spec.get("value_maps", {})
    for line in spec.get("mappings", {}).get(rtype, []):
        value = get_path(resource, line["fhir"])
        if value is None:
            continue
        if "map" in line:
            if value not in maps[line["map"]]:
                raise TranslationError(line["fhir"], f"{value!r} has no entry in value map {line['map']}")
            value = maps[line["map"]][value]
        _pointer_set(body, line["json"], value)
    backend_id = ctx.backend_ids.get((rtype, resource.get("id", "")))
    if "{id}" in endpoint["path"] and backend_id is None:
        raise TranslationError(f"{rtype}/{resource.get('id')}", "the backend id of this resource is not known")
    return VendorRequest(endpoint["method"], endpoint["path"].replace("{id}", backend_id or ""), body, backend_id)


def backend_id_of(profile: Profile, resource_type: str, answer: dict) -> str | None:
    """The vendor's id for the record in its answer (JSON pointer from the profile)."""
    pointer = _spec(profile).get("records", {}).get(resource_type, {}).get("id", "/id")
    value = _pointer_get(answer or {}, pointer)
    return None if value is None else str(value)


def read(profile: Profile, resource_type: str, record: dict, options: dict | None = None) -> dict:
    """A FHIR resource from one vendor record; TranslationError when it does not fit."""
    spec, options = _spec(profile), options or {}
    if not isinstance(record, dict):
        raise TranslationError(resource_type, "vendor record is not a JSON object")
    resource: dict = {"resourceType": resource_type}
    rules = spec.get("records", {}).get(resource_type, {})
    if "mrn" in rules and _pointer_get(record, rules["mrn"]):
        resource["identifier"] = [{"system": options.get("mrn_system", "urn:fhir-gateway:mrn"),
                                   "value": str(_pointer_get(record, rules["mrn"]))}]
    reverse = {name: {v: k for k, v in table.items()} for name, table in spec.get("value_maps", {}).items()}
    for line in spec.get("mappings", {}).get(resource_type, []):
        value = _pointer_get(record, line["json"])
        if value in (None, ""):
            continue
        if "map" in line:
            if value not in reverse[line["map"]]:
                raise TranslationError(line["json"], f"{value!r} has no entry in value map {line['map']}")
            value = reverse[line["map"]][value]
        set_path(resource, line["fhir"], value)
    return resource
