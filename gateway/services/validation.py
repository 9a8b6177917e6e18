"""Strict validation of incoming resources: JSON types, structure, required codes, references.

May import: fhir.resources, pydantic, gateway.errors, gateway.services.primitives, stdlib.
Order: (1) a strict walk of the raw JSON against the fhir.resources R4B model fields — no
coercion, no unknown or empty elements, required-binding codes (the models' `enum_values`,
cross-checked against the R4 value sets by the tests), reference syntax and target types;
(2) the pydantic model itself for cardinality, choice types and the rest. We store what the
client sent, untouched: nothing is ever silently "fixed".
"""
from __future__ import annotations

import re
import types
import typing
from functools import lru_cache

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from gateway.errors import BadRequest, InvalidResource, Issue
from gateway.services.invariants import broken
from gateway.services.primitives import check_primitive

SUPPORTED_TYPES = frozenset({
    "Patient", "Appointment", "Coverage", "DocumentReference", "Binary",
    "CoverageEligibilityRequest", "CoverageEligibilityResponse", "AuditEvent", "Subscription",
    "Bundle"})

_RELATIVE_REF = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$")
_ABSOLUTE_REF = re.compile(r"^https?://\S+$")
_URN_UUID = re.compile(r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_KIND_NAMES = {"Date": "date", "DateTime": "dateTime", "Instant": "instant", "Time": "time",
               "Id": "id", "Code": "code", "Uri": "uri", "Url": "url", "Canonical": "canonical",
               "Base64Binary": "base64Binary", "String": "string", "Markdown": "markdown",
               "Oid": "oid", "Uuid": "uuid", "Integer": "integer", "PositiveInt": "positiveInt",
               "UnsignedInt": "unsignedInt", "Decimal": "decimal", "Integer64": "integer64",
               "Xhtml": "xhtml"}


class _Field(typing.NamedTuple):
    name: str  # JSON name (alias)
    is_list: bool
    kind: str  # a primitive kind, "complex", "resource" or "primitive-ext"
    model: str | None  # complex type class name
    enum: tuple[str, ...] | None
    ref_types: tuple[str, ...] | None


def _strip_optional(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _kind(annotation) -> tuple[str, str | None]:
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in reversed(typing.get_args(annotation)[1:]):
            name = _KIND_NAMES.get(type(meta).__name__)
            if name:
                return name, None
        return "string", None
    if annotation is bool:
        return "boolean", None
    name = getattr(annotation, "__name__", str(annotation))
    if name == "ResourceType":
        return "resource", None
    if name == "FHIRPrimitiveExtensionType":
        return "primitive-ext", None
    if name.endswith("Type"):
        return "complex", name[:-4]
    return "string", None


@lru_cache(maxsize=None)
def _fields(model_name: str) -> dict[str, _Field]:
    """JSON element name -> what it must hold, for one fhir.resources R4B model class."""
    model = get_fhir_model_class(model_name)
    out: dict[str, _Field] = {}
    for name, info in model.model_fields.items():
        if name == "fhir_comments":
            continue
        annotation = _strip_optional(info.annotation)
        is_list = typing.get_origin(annotation) in (list, typing.List)
        if is_list:
            annotation = _strip_optional(typing.get_args(annotation)[0])
        kind, complex_name = _kind(annotation)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        enum = tuple(extra["enum_values"]) if extra.get("enum_values") else None
        refs = tuple(extra["enum_reference_types"]) if extra.get("enum_reference_types") else None
        out[info.alias or name] = _Field(info.alias or name, is_list, kind, complex_name, enum, refs)
    return out


class _Walker:
    """One strict pass over a resource's JSON, collecting every problem (not just the first)."""

    def __init__(self, allow_urn_refs: bool) -> None:
        self.issues: list[Issue] = []
        self.allow_urn_refs = allow_urn_refs
        self.contained_ids: set[str] = set()

    def fail(self, path: str, code: str, text: str) -> None:
        self.issues.append(Issue("error", code, f"{path}: {text}", (path,)))

    def resource(self, data: dict, path: str) -> None:
        rtype = data.get("resourceType")
        try:
            get_fhir_model_class(rtype) if isinstance(rtype, str) else None
        except KeyError:
            rtype = None
        if not isinstance(rtype, str) or rtype is None:
            self.fail(path, "structure", "resourceType is missing or not a FHIR resource type")
            return
        self.contained_ids |= {c.get("id") for c in data.get("contained", []) if isinstance(c, dict)}
        self.element(rtype, data, path, skip=("resourceType",))

    def element(self, model: str, data: object, path: str, skip=()) -> None:
        if not isinstance(data, dict):
            self.fail(path, "structure", f"must be a JSON object, got {type(data).__name__}")
            return
        if not data:
            self.fail(path, "structure", "must not be an empty object (R4 json.html)")
            return
        fields = _fields(model)
        for key, value in data.items():
            if key in skip:
                continue
            spec = fields.get(key)
            if spec is None:
                self.fail(f"{path}.{key}", "structure", f"unknown element '{key}' in {model}")
                continue
            self.value(spec, value, f"{path}.{key}", data, model)

    def value(self, spec: _Field, value: object, path: str, parent: dict, model: str) -> None:
        if value is None:
            self.fail(path, "structure", "must not be null (R4 json.html)")
            return
        if spec.is_list:
            if not isinstance(value, list):
                self.fail(path, "structure", "must be a JSON array (this element repeats)")
                return
            if not value:
                self.fail(path, "structure", "must not be an empty array (R4 json.html)")
            has_ext = f"_{spec.name}" in parent
            for i, item in enumerate(value):
                if item is None and (has_ext or spec.kind == "primitive-ext"):
                    continue  # null placeholder paired with _element (R4 json.html#primitive)
                self.single(spec, item, f"{path}[{i}]", model)
            return
        if isinstance(value, list):
            self.fail(path, "structure", "must be a single value, not an array")
            return
        self.single(spec, value, path, model)

    def single(self, spec: _Field, value: object, path: str, model: str) -> None:
        if value is None:
            self.fail(path, "structure", "must not be null")
        elif spec.kind == "complex":
            self.element(spec.model, value, path)
            if spec.model == "Reference" and isinstance(value, dict):
                self.reference(value, spec.ref_types, path)
        elif spec.kind == "resource":
            if isinstance(value, dict):
                self.resource(value, path)
            else:
                self.fail(path, "structure", "must be a resource object")
        elif spec.kind == "primitive-ext":
            if not isinstance(value, dict):
                self.fail(path, "structure", "must be a JSON object (primitive extension)")
        else:
            problem = check_primitive(spec.kind, value)
            if problem:
                self.fail(path, "value", problem)
            elif spec.enum and value not in spec.enum:
                # Required binding (R4 terminologies.html#required): the code must be in the set.
                self.fail(path, "code-invalid", f"{value!r} is not in the required value set "
                          f"({', '.join(spec.enum)})")

    def reference(self, value: dict, allowed: tuple[str, ...] | None, path: str) -> None:
        ref = value.get("reference")
        if not isinstance(ref, str):
            return
        if ref.startswith("#"):
            if ref[1:] not in self.contained_ids:
                self.fail(f"{path}.reference", "invalid", f"{ref!r} points at no contained resource")
            return
        if ref.startswith("urn:uuid:"):
            if not self.allow_urn_refs or not _URN_UUID.match(ref):
                self.fail(f"{path}.reference", "invalid",
                          f"{ref!r}: urn:uuid references are only allowed inside a transaction Bundle")
            return
        match = _RELATIVE_REF.match(ref)
        if match is None and _ABSOLUTE_REF.match(ref):
            match = re.search(r"/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[^/]+)?$", ref)
            if match is None:
                return  # an absolute URL not shaped like a FHIR RESTful reference
        if match is None:
            self.fail(f"{path}.reference", "invalid",
                      f"{ref!r} is not a valid reference (Type/id, absolute URL, #id or urn:uuid)")
            return
        target = match.group(1)
        if allowed and "Resource" not in allowed and target not in allowed:
            self.fail(f"{path}.reference", "invalid",
                      f"{ref!r}: this element may only point at {', '.join(allowed)}")
        declared = value.get("type")
        if isinstance(declared, str) and declared != target:
            self.fail(f"{path}.type", "invalid", f"type {declared!r} contradicts reference {ref!r}")


def _expression(resource_type: str, loc: tuple) -> str:
    out = resource_type
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith("function-after") and part not in ("", "__root__"):
            out += f".{part}"
    return out


def _model_issues(resource_type: str, body: dict) -> list[Issue]:
    model = get_fhir_model_class(resource_type)
    try:
        model.model_validate(body)
    except ValidationError as exc:
        issues = []
        for err in exc.errors(include_url=False, include_input=False)[:50]:
            path = _expression(resource_type, tuple(err.get("loc", ())))
            issues.append(Issue("error", "invalid", f"{path}: {err.get('msg', 'invalid')}", (path,)))
        return issues
    except (ValueError, TypeError) as exc:  # fhir_core raises these for some root validators
        return [Issue("error", "invalid", f"{resource_type}: {str(exc)[:300]}", (resource_type,))]
    return []


def _invariant_issues(body: dict) -> list[Issue]:
    return [Issue("error", "invariant", f"{where}: {key}: {human}", (where,))
            for key, where, human in broken(body)]


def validate_resource(body: object, expected_type: str | None = None, *,
                      allow_urn_refs: bool = False) -> dict:
    """Return `body` unchanged if it is a valid resource, else raise InvalidResource."""
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
        first = issues[0].diagnostics
        raise InvalidResource(f"Invalid {rtype}: {first}" + (f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""),
                              issues=issues)
    return body


def references_in(resource: dict) -> list[tuple[str, str]]:
    """Every Reference.reference in the resource (not in contained resources), with its path."""
    found: list[tuple[str, str]] = []

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str):
                found.append((path, ref))
            for key, item in value.items():
                if key not in ("contained", "reference"):
                    walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(resource, resource.get("resourceType", "Resource"))
    return found


_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}


def validate_bundle_envelope(body: object) -> dict:
    """A batch/transaction Bundle's envelope (R4 bundle.html, http.html#transaction)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise InvalidResource("POST to the base takes a Bundle", expression=("Bundle",))
    if body.get("type") not in ("batch", "transaction"):
        raise BadRequest(f"Bundle.type must be batch or transaction to be processed, got "
                         f"{body.get('type')!r}", expression=("Bundle.type",))
    entries = body.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidResource("Bundle.entry must be an array", expression=("Bundle.entry",))
    issues = []
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or request.get("method") not in _METHODS \
                or not isinstance(request.get("url"), str) or not request["url"]:
            issues.append(Issue("error", "required", f"{where}.request needs a method and a url",
                                (f"{where}.request",)))
            continue
        if request["method"] in ("POST", "PUT") and not isinstance(entry.get("resource"), dict):
            issues.append(Issue("error", "required", f"{where}.resource is required for "
                                f"{request['method']}", (f"{where}.resource",)))
    if issues:
        raise InvalidResource(issues[0].diagnostics, issues=issues)
    return body
