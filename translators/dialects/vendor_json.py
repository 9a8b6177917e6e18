"""The vendor REST/JSON dialect: FHIR resource <-> a vendor's JSON record, by declarative
mapping in a profile's `rest` section. Pure.

May import: stdlib, translators.*. The HTTP call itself (auth, errors) lives in
gateway.transports.http and gateway.sync.rest_backend; this module only says what to send, how
to page through a list, and how to read what comes back. The `rest` section holds:
  endpoints   type -> interaction -> {method, path, absent}: `{id}` in a path is the record's
              own vendor id, `{parent}` the vendor id of the record it lives under;
              `absent: null` sends null for every mapped field without a value (a JSON merge
              patch, RFC 7396, then clears it) instead of leaving it out
  records     type -> {id, mrn, envelope, parent: {type, fhir, create}}: pointers to the vendor
              id and MRN, the wrapper of single answers, the owning record (by a FHIR reference)
  search      type -> {path, params, items, next}: a list request and its paging
              (vendor_lists.py)
  errors      {code, message}: pointers into the vendor's error body
  value_maps  name -> {FHIR code: vendor code}
  defaults    type -> {pointer: value}: sent when the mapping left that field empty
  fhir_defaults type -> [{fhir, value, with?}]: set on read when the record left it empty
              (and, with `with`, only when that other element has a value)
  mappings    type -> lines {fhir, json, map?, transform?}, plus two kinds:
              `ref: <Type>` the vendor id of the resource the FHIR reference points at;
              `via: <reference path>` a value of the referenced resource (sent only)
              `json` may be a list of pointers when the transform splits one FHIR value.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from translators.dialects.vendor_transforms import transform
from translators.paths import compile_path, get_path, set_path
from translators.types import Profile, TranslateContext, TranslationError

LocalIds = Callable[[str, str], "str | None"]  # (type, vendor id) -> local id


@dataclass(frozen=True)
class VendorRequest:
    method: str
    path: str
    json: dict | None = field(default_factory=dict)
    backend_id: str | None = None  # known before the call (update), else read from the answer
    params: dict = field(default_factory=dict)  # query parameters (searches)


def rest_spec(profile: Profile) -> dict:
    spec = profile.data.get("rest")
    if not isinstance(spec, dict):
        raise TranslationError(profile.key, "profile has no rest section")
    return spec


_spec = rest_spec


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]  # RFC 6901


def pointer_get(document, pointer: str):
    if pointer in ("", "/"):
        return document
    current: Any = document
    for token in _tokens(pointer):
        if not isinstance(current, dict) or token not in current:
            return None
        current = current[token]
    return current


def _pointer_set(document: dict, pointer: str, value) -> None:
    tokens = _tokens(pointer)
    current = document
    for token in tokens[:-1]:
        current = current.setdefault(token, {})
    current[tokens[-1]] = value


def _pointers(line: dict) -> list[str]:
    return line["json"] if isinstance(line["json"], list) else [line["json"]]


def _mrn(resource: dict, ctx: TranslateContext) -> str:
    return mrn_of(resource, ctx.options)


def mrn_of(resource: dict, options) -> str:
    """The identifier the vendor knows a record by: the MRN (`mrn_system`), else the local id."""
    system = options.get("mrn_system", "urn:fhir-gateway:mrn")
    for identifier in resource.get("identifier", []):
        if identifier.get("system") == system and identifier.get("value"):
            return identifier["value"]
    return resource["id"]


def _all_values(node, path: str) -> list:
    """Every value at `path`, each list step taken over all its items (indexes ignored)."""
    current = [node]
    for name, _index, pairs in compile_path(path):
        found = []
        for item in current:
            value = item.get(name) if isinstance(item, dict) else None
            for each in value if isinstance(value, list) else [value]:
                if each is not None and (not pairs or all(str(each.get(k)) == v for k, v in pairs)):
                    found.append(each)
        current = found
    return current


def referenced(resource: dict, path: str, rtype: str) -> tuple[str, str] | None:
    """(type, id) of the first literal reference to `rtype` at `path`, or None."""
    for value in _all_values(resource, path):
        reference = value.get("reference", "") if isinstance(value, dict) else ""
        parts = reference.split("/")
        if len(parts) >= 2 and parts[-2] == rtype and "://" not in reference:
            return rtype, parts[-1]
    return None


def parent_of(profile: Profile, resource: dict) -> tuple[str, str] | None:
    """The (type, local id) of the record this resource lives under at the vendor, if any."""
    parent = _spec(profile).get("records", {}).get(resource.get("resourceType"), {}).get("parent")
    if not parent:
        return None
    found = referenced(resource, parent["fhir"], parent["type"])
    if found is None:
        raise TranslationError(parent["fhir"], f"needs a reference to a {parent['type']}")
    return found


def _line_value(line: dict, resource: dict, ctx: TranslateContext):
    if "ref" in line:
        target = referenced(resource, line["fhir"], line["ref"])
        if target is None:
            return None
        if target not in ctx.backend_ids:
            raise TranslationError(line["fhir"], f"{'/'.join(target)} is not known to this backend")
        return ctx.backend_ids[target]
    if "via" in line:  # the referenced resource comes in through the context (ctx.related)
        for value in _all_values(resource, line["via"]):
            parts = value.get("reference", "").split("/") if isinstance(value, dict) else []
            if len(parts) >= 2 and (parts[-2], parts[-1]) in ctx.related:
                return get_path(ctx.related[(parts[-2], parts[-1])], line["fhir"])
        return None
    return get_path(resource, line["fhir"])


def _render_line(line: dict, resource: dict, ctx: TranslateContext, maps: dict, body: dict) -> None:
    value = _line_value(line, resource, ctx)
    if value is None:
        return
    if "map" in line:
        if value not in maps[line["map"]]:
            raise TranslationError(line["fhir"], f"{value!r} has no entry in value map {line['map']}")
        value = maps[line["map"]][value]
    pointers = _pointers(line)
    if "transform" in line:
        value = transform(line["transform"])[0](value, ctx.options)
    for pointer, part in zip(pointers, value if len(pointers) > 1 else [value]):
        if pointer_get(body, pointer) not in (None, part):
            raise TranslationError(line["fhir"], f"gives {pointer} a value that differs from "
                                   f"another mapped element's ({pointer_get(body, pointer)!r})")
        _pointer_set(body, pointer, part)


# Shared with vendor_eligibility.py, whose request lines are these mapping lines.
render_line, all_values, pointer_set = _render_line, _all_values, _pointer_set


def render(profile: Profile, interaction: str, resource: dict, ctx: TranslateContext) -> VendorRequest:
    spec, rtype = _spec(profile), resource.get("resourceType")
    endpoint = spec.get("endpoints", {}).get(rtype, {}).get(interaction)
    if endpoint is None:
        raise TranslationError(f"{rtype}.{interaction}", f"profile {profile.key} has no endpoint for it")
    rules = spec.get("records", {}).get(rtype, {})
    body: dict = {}
    if "mrn" in rules:
        _pointer_set(body, rules["mrn"], _mrn(resource, ctx))
    maps = spec.get("value_maps", {})
    lines = spec.get("mappings", {}).get(rtype, [])
    for line in lines:
        _render_line(line, resource, ctx, maps, body)
    for pointer, value in spec.get("defaults", {}).get(rtype, {}).items():
        if pointer_get(body, pointer) is None:
            _pointer_set(body, pointer, value)
    if endpoint.get("absent") == "null":  # RFC 7396: null removes what an earlier write set
        for pointer in (p for line in lines for p in _pointers(line)):
            if pointer_get(body, pointer) is None:
                _pointer_set(body, pointer, None)
    return _with_path(profile, endpoint, rtype, resource, ctx, body)


def _with_path(profile, endpoint, rtype, resource, ctx, body) -> VendorRequest:
    path, backend_id = endpoint["path"], ctx.backend_ids.get((rtype, resource.get("id", "")))
    if "{id}" in path:
        if backend_id is None:
            raise TranslationError(f"{rtype}/{resource.get('id')}", "the backend id of this resource is not known")
        path = path.replace("{id}", backend_id)
    if "{parent}" in path:
        parent = parent_of(profile, resource)
        if parent not in ctx.backend_ids:
            raise TranslationError("/".join(parent), "the backend id of the parent record is not known")
        path = path.replace("{parent}", ctx.backend_ids[parent])
    return VendorRequest(endpoint["method"], path, body if endpoint["method"] != "DELETE" else None, backend_id)


def parent_rule(profile: Profile, resource_type: str) -> dict:
    """The `records.<type>.parent` rule of any type whose parent is `resource_type`."""
    for rules in _spec(profile).get("records", {}).values():
        if rules.get("parent", {}).get("type") == resource_type:
            return rules["parent"]
    return {}


def record_id(profile: Profile, resource_type: str, record: dict) -> str:
    """The vendor id of one (unwrapped) record, e.g. an item of a list answer."""
    pointer = _spec(profile).get("records", {}).get(resource_type, {}).get("id", "/id")
    value = pointer_get(record, pointer)
    if value in (None, ""):
        raise TranslationError(pointer, "the vendor record has no id there")
    return str(value)


def record_of(profile: Profile, resource_type: str, answer) -> Any:
    """The record inside a single-record answer (a vendor may wrap it, e.g. {"data": {...}})."""
    envelope = _spec(profile).get("records", {}).get(resource_type, {}).get("envelope", "")
    return pointer_get(answer, envelope) if envelope else answer


def backend_id_of(profile: Profile, resource_type: str, answer: dict) -> str | None:
    """The vendor's id for the record in its answer (JSON pointer from the profile)."""
    pointer = _spec(profile).get("records", {}).get(resource_type, {}).get("id", "/id")
    value = pointer_get(record_of(profile, resource_type, answer or {}) or {}, pointer)
    return None if value in (None, "") else str(value)


def _read_line(line: dict, record: dict, reverse: dict, options: dict, local_ids: LocalIds | None):
    pointers = _pointers(line)
    values = [pointer_get(record, p) for p in pointers]
    if all(v in (None, "") for v in values):
        return None
    for pointer, value in zip(pointers, values):
        if isinstance(value, (dict, list)):
            raise TranslationError(pointer, "expected a single value, got a JSON " + type(value).__name__)
    value = values if len(pointers) > 1 else values[0]
    if "transform" in line:
        value = transform(line["transform"])[1](value, options)
    if "map" in line:
        if value not in reverse[line["map"]]:
            raise TranslationError(pointers[0], f"{value!r} has no entry in value map {line['map']}")
        value = reverse[line["map"]][value]
    if "ref" in line:
        local = local_ids(line["ref"], str(value)) if local_ids else None
        # Unknown to the gateway: a logical reference (FHIR R4 references.html#logical)
        return ({"reference": f"{line['ref']}/{local}"} if local else
                {"type": line["ref"], "identifier": {"system": f"urn:fhir-gateway:vendor-id:{line['ref']}",
                                                     "value": str(value)}})
    return value


def read(profile: Profile, resource_type: str, record: dict, options: dict | None = None,
         local_ids: LocalIds | None = None) -> dict:
    """A FHIR resource from one vendor record; TranslationError when it does not fit.
    `local_ids` turns a vendor id in a `ref` field into the gateway's own id."""
    spec, options = _spec(profile), options or {}
    if not isinstance(record, dict):
        raise TranslationError(resource_type, "vendor record is not a JSON object")
    resource: dict = {"resourceType": resource_type}
    rules = spec.get("records", {}).get(resource_type, {})
    if "mrn" in rules and pointer_get(record, rules["mrn"]):
        resource["identifier"] = [{"system": options.get("mrn_system", "urn:fhir-gateway:mrn"),
                                   "value": str(pointer_get(record, rules["mrn"]))}]
    reverse = {name: {v: k for k, v in table.items()} for name, table in spec.get("value_maps", {}).items()}
    for line in spec.get("mappings", {}).get(resource_type, []):
        if "via" in line:
            continue  # a copy of another resource's value: that resource is where it is read
        value = _read_line(line, record, reverse, options, local_ids)
        if value is not None:
            set_path(resource, line["fhir"] if "ref" not in line else _first_path(line["fhir"]), value)
    for default in spec.get("fhir_defaults", {}).get(resource_type, []):
        # `with`: only beside that element (a class.type without its class.value is invalid)
        if "with" in default and get_path(resource, default["with"]) is None:
            continue
        if get_path(resource, default["fhir"]) is None:
            set_path(resource, default["fhir"], default["value"])
    return resource


def _first_path(path: str) -> str:
    """`participant.actor` -> `participant[0].actor`: where a reference is written on read."""
    return ".".join(s if "[" in s or i == len(path.split(".")) - 1 else f"{s}[0]"
                    for i, s in enumerate(path.split("."))) if "." in path else path


def error_of(profile: Profile, body) -> tuple[str, str] | None:
    """(code, message) from a vendor error body by the profile's `errors` pointers, else None."""
    rules = _spec(profile).get("errors")
    if not rules or not isinstance(body, dict):
        return None
    code, message = (pointer_get(body, rules[k]) if k in rules else None for k in ("code", "message"))
    if code in (None, "", [], {}) and message in (None, "", [], {}):
        return None
    as_text = [v if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in (code or "", message or "")]
    return as_text[0], as_text[1]
