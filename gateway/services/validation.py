"""Strict validation of incoming resources: JSON types, structure, required codes, references.

May import: fhir.resources, pydantic, gateway.errors, gateway.services.primitives,
gateway.services.valuesets, gateway.services.invariants, stdlib.
Order: (1) a strict walk of the raw JSON against the fhir.resources R4B model fields — no
coercion, no unknown/empty/null elements, required-binding codes, reference syntax and target
types, contained-resource rules; (2) the pydantic model for cardinality, choice types and the
rest; (3) the R4 FHIRPath invariants. We store what the client sent, untouched: nothing is
ever silently "fixed". Everything derived from the models and definitions is cached.
"""
from __future__ import annotations

import re

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from gateway.errors import BadRequest, InvalidResource, Issue
from gateway.services.invariants import broken
from gateway.services.primitives import check_primitive, check_syntax, parse_reference
from gateway.services.valuesets import Binding, Field, fields, is_resource

SUPPORTED_TYPES = frozenset({
    "Patient", "Appointment", "Coverage", "DocumentReference", "Binary",
    "CoverageEligibilityRequest", "CoverageEligibilityResponse", "AuditEvent", "Subscription",
    "Bundle"})


class _Walker:
    """One strict pass over a resource's JSON, collecting every problem (not just the first)."""

    def __init__(self, allow_urn_refs: bool, shallow: bool = False) -> None:
        self.issues: list[Issue] = []
        self.allow_urn_refs = allow_urn_refs
        self.shallow = shallow  # envelope only: nested (non-contained) resources are not walked
        self.scopes: list[dict[str, bool]] = []  # contained id -> referenced, per container
        self.inside: list[object] = []  # ids of the contained resources being walked

    def fail(self, path: str, code: str, text: str) -> None:
        self.issues.append(Issue("error", code, f"{path}: {text}", (path,)))

    def resource(self, data: dict, path: str, contained: bool = False) -> None:
        rtype = data.get("resourceType")
        if not isinstance(rtype, str) or not is_resource(rtype):
            self.fail(path, "structure", f"resourceType {rtype!r} is missing or not a FHIR resource type")
            return
        if contained:  # "#id" inside a contained resource resolves against the container
            self.contained_rules(data, path)
            self.inside.append(data.get("id"))
            self.element(rtype, data, path, skip=("resourceType",))
            self.inside.pop()
            return
        items = data.get("contained")
        ids = [c.get("id") for c in items if isinstance(c, dict)] if isinstance(items, list) else []
        self.scopes.append({i: False for i in ids if isinstance(i, str)})
        self.element(rtype, data, path, skip=("resourceType",))
        for cid, used in self.scopes.pop().items():
            if not used:  # dom-3 (R4 references.html#contained): contained must be referenced
                self.fail(f"{path}.contained[{ids.index(cid)}]", "invalid",
                          f"dom-3: contained resource '{cid}' is not referenced from the resource")

    def contained_rules(self, data: dict, path: str) -> None:
        # R4 resource dom-2/dom-4 and references.html#contained: no nesting, no version
        # metadata, and an id to be referenced by.
        if "contained" in data:
            self.fail(f"{path}.contained", "invalid", "dom-2: a contained resource cannot contain resources")
        meta = data.get("meta")
        if isinstance(meta, dict) and ("versionId" in meta or "lastUpdated" in meta):
            self.fail(f"{path}.meta", "invalid", "dom-4: a contained resource has no versionId or lastUpdated")
        if "id" not in data:
            self.fail(f"{path}.id", "required", "a contained resource needs an id to be referenced by")

    def element(self, model: str, data: object, path: str, skip=()) -> None:
        if not isinstance(data, dict):
            self.fail(path, "structure", f"must be a JSON object, got {_json_kind(data)}")
            return
        if not data:
            self.fail(path, "structure", "must not be an empty object (R4 json.html)")
            return
        table = fields(model)
        for key, value in data.items():
            if key in skip:
                continue
            spec = table.get(key)
            if spec is None:
                self.fail(f"{path}.{key}", "structure", f"unknown element '{key}'")
            elif spec.is_list:
                self.many(spec, value, f"{path}.{key}", data.get(_partner(key)))
            elif value is None:
                self.fail(f"{path}.{key}", "structure", "must not be null (R4 json.html)")
            elif isinstance(value, list):
                self.fail(f"{path}.{key}", "structure", "must be a single value, not an array")
            else:
                self.single(spec, value, f"{path}.{key}")

    def many(self, spec: Field, value: object, path: str, partner: object) -> None:
        if not isinstance(value, list):
            self.fail(path, "structure", "must be a JSON array (this element repeats)")
            return
        if not value:
            self.fail(path, "structure", "must not be an empty array (R4 json.html)")
            return
        # R4 json.html#primitive: value and _extension arrays line up item by item, with null
        # where one side has nothing; null on both sides at once is not allowed.
        if isinstance(partner, list) and len(partner) != len(value):
            self.fail(path, "structure", "must have as many items as its primitive pair")
            return
        for i, item in enumerate(value):
            if item is None:
                if not (isinstance(partner, list) and i < len(partner) and partner[i] is not None):
                    self.fail(f"{path}[{i}]", "structure", "must not be null (R4 json.html)")
                continue
            self.single(spec, item, f"{path}[{i}]")

    def single(self, spec: Field, value: object, path: str) -> None:
        kind = spec.kind
        if kind == "complex" or kind == "primitive-ext":
            self.element(spec.model, value, path)
            if spec.model == "Reference" and isinstance(value, dict):
                self.reference(value, spec.ref_types, path)
        elif kind == "resource" and self.shallow and not path.endswith("]"):
            if not isinstance(value, dict) or not is_resource(str(value.get("resourceType"))):
                self.fail(path, "structure", "must be a resource (a JSON object with a known resourceType)")
        elif kind == "resource":
            if isinstance(value, dict):
                self.resource(value, path, contained=path.rsplit(".", 1)[-1].startswith("contained["))
            else:
                self.fail(path, "structure", "must be a resource (a JSON object)")
        else:
            problem = check_primitive(kind, value)
            if problem:
                self.fail(path, "value", problem)
            elif spec.binding is not None:
                self.code(spec.binding, value, path)
            elif kind in ("canonical", "uri") and value.startswith("#") and value[1:] in self.scopes[-1]:
                self.scopes[-1][value[1:]] = True  # dom-3 counts canonical/uri "#id" too

    def code(self, binding: Binding, value: str, path: str) -> None:
        # Required binding (R4 terminologies.html#required): the code SHALL be in the set.
        if binding.codes is not None and value not in binding.codes:
            self.fail(path, "code-invalid", f"{value!r} is not in the required value set "
                      f"{binding.value_set} ({', '.join(sorted(binding.codes))})")
        elif binding.codes is None and binding.syntax:
            problem = check_syntax(binding.syntax, value)
            if problem:
                self.fail(path, "code-invalid", f"{problem} (required binding {binding.value_set})")

    def reference(self, value: dict, allowed: tuple[str, ...] | None, path: str) -> None:
        ref = value.get("reference")
        if not isinstance(ref, str) or not ref:
            return  # the primitive check already reported a wrong JSON type
        form, target = parse_reference(ref)
        where = f"{path}.reference"
        if form == "local":
            self.local_reference(ref[1:], where)
            return
        if form == "urn" and not self.allow_urn_refs:
            self.fail(where, "invalid", f"{ref!r}: urn:uuid references are only allowed inside a transaction Bundle")
        elif form == "invalid":
            self.fail(where, "invalid", f"{ref!r} is not a valid reference (Type/id, absolute URL, #id or urn:uuid)")
        elif target is not None and not is_resource(target):
            self.fail(where, "invalid", f"{ref!r}: {target!r} is not a FHIR resource type")
        elif target is not None and allowed and "Resource" not in allowed and target not in allowed:
            self.fail(where, "invalid", f"{ref!r}: this element may only point at {', '.join(allowed)}")
        declared = value.get("type")
        if isinstance(declared, str) and target is not None and declared != target:
            self.fail(f"{path}.type", "invalid", f"type {declared!r} contradicts reference {ref!r}")

    def local_reference(self, target: str, where: str) -> None:
        scope = self.scopes[-1]
        if target == "" and self.inside:  # "#" alone: a contained resource points at its container
            if isinstance(self.inside[-1], str):
                scope[self.inside[-1]] = True
            return
        if target not in scope:
            self.fail(where, "invalid", f"'#{target}' points at no contained resource")
        else:
            scope[target] = True


def _partner(key: str) -> str:
    return key[1:] if key.startswith("_") else f"_{key}"


def _json_kind(value: object) -> str:
    return {str: "a string", bool: "a boolean", int: "a number", float: "a number",
            list: "an array"}.get(type(value), type(value).__name__)


_CHOICE = re.compile(r"expected from this list \[([^\]]*)\], but got multiple")
_INTERNAL = re.compile(r"fhir_core|fhir\.resources|pydantic|\b[A-Z]\w*Type\b")


def _model_message(err: dict) -> tuple[str, str]:
    """(issue code, clear sentence) for one pydantic error, without pydantic internals."""
    kind, text = err.get("type", ""), str(err.get("msg", "is invalid"))
    if kind == "missing":
        return "required", "is required (minimum cardinality 1) but missing"
    choice = _CHOICE.search(text)
    if choice:  # R4 formats.html#choice: only one type of a choice element may be present
        names = choice.group(1).replace("'", "")
        return "structure", f"only one of {names} may be present"
    if kind == "extra_forbidden":
        return "structure", "unknown element"
    text = text.removeprefix("Value error, ").replace("Input should be", "must be")
    return "invalid", "is not valid" if _INTERNAL.search(text) else text


def _expression(resource_type: str, loc: tuple) -> str:
    out = resource_type
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("", "__root__") and not str(part).startswith("function-"):
            out += f".{part}"
    return out


def _model_issues(resource_type: str, body: dict) -> list[Issue]:
    try:
        get_fhir_model_class(resource_type).model_validate(body)
    except ValidationError as exc:
        issues = []
        for err in exc.errors(include_url=False, include_input=False, include_context=False)[:50]:
            path = _expression(resource_type, tuple(err.get("loc", ())))
            code, text = _model_message(err)
            issues.append(Issue("error", code, f"{path}: {text}", (path,)))
        return issues
    except (ValueError, TypeError):  # some fhir_core root validators raise these directly
        return [Issue("error", "invalid", f"{resource_type}: the resource is not valid", (resource_type,))]
    return []


def _invariant_issues(body: dict) -> list[Issue]:
    return [Issue("error", "invariant", f"{where}: {key}: {human}", (where,))
            for key, where, human in broken(body)]


def validate_resource(body: object, expected_type: str | None = None, *,
                      allow_urn_refs: bool = False) -> dict:
    """Return `body` unchanged if it is a valid resource, else raise InvalidResource whose
    issues name every problem with a FHIRPath expression. `allow_urn_refs` admits
    urn:uuid references (entries of a transaction Bundle, R4 http.html#transaction)."""
    if not isinstance(body, dict):
        raise InvalidResource("The body must be a JSON object holding a FHIR resource")
    rtype = body.get("resourceType")
    if not isinstance(rtype, str) or rtype not in SUPPORTED_TYPES:
        raise InvalidResource(f"resourceType {rtype!r} is missing or not supported here",
                              expression=("resourceType",))
    if expected_type and rtype != expected_type:
        raise InvalidResource(f"resourceType {rtype!r} does not match the endpoint {expected_type!r}",
                              expression=(f"{rtype}.resourceType",))
    walker = _Walker(allow_urn_refs)
    walker.resource(body, rtype)
    issues = walker.issues or _model_issues(rtype, body) or _invariant_issues(body)
    if issues:
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        raise InvalidResource(f"Invalid {rtype}: {issues[0].diagnostics}{more}", issues=issues)
    return body


def references_in(resource: dict) -> list[tuple[str, str]]:
    """Every Reference.reference in the resource, with the FHIRPath of its Reference element;
    backbone elements included, contained and other nested resources (Bundle.entry) not."""
    found: list[tuple[str, str]] = []

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str):
                found.append((path, ref))
            for key, item in value.items():
                nested = isinstance(item, dict) and "resourceType" in item  # Bundle.entry.resource
                if key not in ("contained", "reference") and not nested:
                    walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(resource, resource.get("resourceType", "Resource"))
    return found


def validate_bundle_envelope(body: object) -> dict:
    """A batch/transaction Bundle's envelope (R4 bundle.html, http.html#transaction): strict
    JSON of the Bundle itself, and every entry's request; each entry's resource is validated
    separately by the caller with validate_resource(..., allow_urn_refs=True)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise InvalidResource("POST to the base takes a Bundle", expression=("Bundle",))
    if body.get("type") not in ("batch", "transaction"):
        raise BadRequest(f"Bundle.type must be batch or transaction to be processed, got "
                         f"{body.get('type')!r}", expression=("Bundle.type",))
    walker = _Walker(allow_urn_refs=True, shallow=True)
    walker.resource(body, "Bundle")
    entries = body.get("entry", [])
    issues = walker.issues + (_entry_issues(entries) if isinstance(entries, list) else [])
    if issues:
        raise InvalidResource(f"Invalid Bundle: {issues[0].diagnostics}", issues=issues)
    return body


def _entry_issues(entries: list) -> list[Issue]:
    issues, full_urls = [], set()
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict):
            continue  # the strict walk reported it
        request = entry.get("request")
        if not isinstance(request, dict) or not isinstance(request.get("method"), str) \
                or not isinstance(request.get("url"), str):  # bdl-3, Bundle.entry.request 1..1 fields
            issues.append(Issue("error", "required", f"{where}.request: a batch or transaction "
                                "entry needs request.method and request.url", (f"{where}.request",)))
            continue
        method, resource = request["method"], entry.get("resource")
        if method in ("POST", "PUT") and not isinstance(resource, dict):
            issues.append(Issue("error", "required", f"{where}.resource: required for {method}",
                                (f"{where}.resource",)))
        elif method in ("POST", "PUT"):
            url_type = request["url"].split("?")[0].strip("/").split("/")[0]
            if resource.get("resourceType") != url_type:
                issues.append(Issue("error", "invalid", f"{where}.resource: resourceType "
                                    f"{resource.get('resourceType')!r} does not match request.url "
                                    f"{request['url']!r}", (f"{where}.resource",)))
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url in full_urls:  # bdl-7: fullUrl is unique
            issues.append(Issue("error", "invalid", f"{where}.fullUrl: {full_url!r} appears twice",
                                (f"{where}.fullUrl",)))
        full_urls.add(full_url)
    return issues
