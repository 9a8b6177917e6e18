"""What each element of a resource may hold: the element table of the fhir.resources R4B models
(JSON name, cardinality, primitive kind, complex type, reference targets) joined with the
required bindings read from the R4 definitions.

May import: fhir.resources, gateway.fhirdefs, stdlib. A `required` binding means the code SHALL come from the
value set (R4 terminologies.html#required). For each resource-level `code` element with such a
binding in the StructureDefinition snapshot, the codes come from the shipped ValueSet and its
CodeSystem (gateway/fhirdefs/data). Value sets that cannot be listed (mime types, languages,
currencies) are checked for syntax only, by name (see gateway.services.primitives.SYNTAX).
Everything is derived once and cached (functools caches, no other module state).
"""
from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import lru_cache

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource

from gateway.fhirdefs import shipped_types, structure_definition, terminology

# Value sets that are grammars, not lists: BCP 13 mime types, BCP 47 languages, ISO 4217.
# We cannot enumerate them, so only the code's syntax is checked (R4 terminologies.html#4.1.1).
SYNTAX_ONLY = {
    "http://hl7.org/fhir/ValueSet/mimetypes": "mimetype",
    "http://hl7.org/fhir/ValueSet/all-languages": "language",
    "http://hl7.org/fhir/ValueSet/languages": "language",
    "http://hl7.org/fhir/ValueSet/currencies": "currency",
}

_GRAMMAR_VALUE_SETS = {"mimetype": "http://hl7.org/fhir/ValueSet/mimetypes",
                       "language": "http://hl7.org/fhir/ValueSet/all-languages",
                       "currency": "http://hl7.org/fhir/ValueSet/currencies"}

# Datatype elements whose required (or maximum) binding is one of those grammars; the
# datatype StructureDefinitions are not shipped, and the models carry no enum for them.
# (model class, element) -> grammar. R4 datatypes.html: Attachment, Money, Signature;
# resource.html#Resource: Resource.language has maxValueSet all-languages.
DATATYPE_SYNTAX = {
    ("Attachment", "contentType"): "mimetype",
    ("Attachment", "language"): "language",
    ("Money", "currency"): "currency",
    ("Signature", "targetFormat"): "mimetype",
    ("Signature", "sigFormat"): "mimetype",
}

# Datatype elements with a required binding the models carry no enum_values for (their codes
# are symbols): R4 datatypes.html#Quantity, Quantity.comparator and its specialisations.
_COMPARATOR = "http://hl7.org/fhir/ValueSet/quantity-comparator"
DATATYPE_VALUE_SETS = {(m, "comparator"): _COMPARATOR
                       for m in ("Quantity", "Age", "Count", "Distance", "Duration")}


@dataclass(frozen=True)
class Binding:
    """What a required binding allows: a list of codes, or a grammar (`syntax`)."""

    value_set: str
    codes: frozenset[str] | None = None
    syntax: str | None = None


def _concepts(concepts: list[dict]) -> set[str]:
    out: set[str] = set()
    for concept in concepts:
        out.add(concept["code"])
        out |= _concepts(concept.get("concept", []))  # nested (hierarchical) codes count too
    return out


@lru_cache(maxsize=64)
def value_set_codes(url: str) -> frozenset[str] | None:
    """Every code in the shipped value set `url` (version suffix ignored), None if not shipped.

    Only the compose forms the core value sets we ship use are supported: a whole CodeSystem,
    or an explicit concept list (R4 valueset.html#compositions). Anything else raises, so a
    newly shipped value set with filters cannot silently allow everything.
    """
    files = terminology()
    value_set = files.get(url.split("|")[0])
    if value_set is None:
        return None
    codes: set[str] = set()
    for include in value_set["compose"]["include"]:
        if include.get("filter") or include.get("valueSet"):
            raise ValueError(f"{url}: compose filters/valueSet imports are not supported")
        if include.get("concept"):
            codes |= {c["code"] for c in include["concept"]}
        else:
            codes |= _concepts(files[include["system"]]["concept"])
    if value_set["compose"].get("exclude"):
        raise ValueError(f"{url}: compose.exclude is not supported")
    return frozenset(codes)


@lru_cache(maxsize=32)
def required_bindings(resource_type: str) -> dict[str, Binding]:
    """Snapshot element path (e.g. 'Patient.contact.gender') -> Binding, for `code` elements.

    Value sets neither shipped nor grammars map to Binding(url) with no codes: the caller
    falls back to the model's enum_values (and the tests prove none is left unchecked).
    """
    definition = structure_definition(resource_type)
    if definition is None:
        return {}
    out = {}
    for element in definition["snapshot"]["element"]:
        binding = element.get("binding") or {}
        kinds = {t["code"] for t in element.get("type", [])}
        if binding.get("strength") != "required" or kinds != {"code"}:
            continue
        url = binding["valueSet"].split("|")[0]
        out[element["path"]] = Binding(url, value_set_codes(url), SYNTAX_ONLY.get(url))
    return out


_KIND_NAMES = {"Date": "date", "DateTime": "dateTime", "Instant": "instant", "Time": "time",
               "Id": "id", "Code": "code", "Uri": "uri", "Url": "url", "Canonical": "canonical",
               "Base64Binary": "base64Binary", "String": "string", "Markdown": "markdown",
               "Oid": "oid", "Uuid": "uuid", "Integer": "integer", "PositiveInt": "positiveInt",
               "UnsignedInt": "unsignedInt", "Decimal": "decimal", "Integer64": "integer64",
               "Xhtml": "xhtml"}


class Field(typing.NamedTuple):
    """One element of a model class, as the strict JSON walk needs it."""

    name: str  # JSON name (alias)
    is_list: bool
    kind: str  # a primitive kind, "complex", "resource" or "primitive-ext"
    model: str | None  # complex type class name
    binding: Binding | None  # required binding of a code element
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
        return "primitive-ext", "FHIRPrimitiveExtension"
    if name.endswith("Type"):
        return "complex", name[:-4]
    return "string", None


class _Raw(typing.NamedTuple):
    alias: str
    is_list: bool
    kind: str
    model: str | None
    extra: dict


@lru_cache(maxsize=None)
def _raw_fields(model_name: str) -> tuple[_Raw, ...]:
    """The fields of one fhir.resources R4B model class, read from its annotations."""
    out = []
    for name, info in get_fhir_model_class(model_name).model_fields.items():
        if name == "fhir_comments":
            continue
        annotation = _strip_optional(info.annotation)
        is_list = typing.get_origin(annotation) in (list, typing.List)
        if is_list:
            annotation = _strip_optional(typing.get_args(annotation)[0])
        kind, complex_name = _kind(annotation)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        out.append(_Raw(info.alias or name, is_list, kind, complex_name, extra))
    return tuple(out)


@lru_cache(maxsize=None)
def _definition_bindings() -> dict[tuple[str, str], Binding]:
    """(model class, element) -> Binding, from the snapshots of every supported type."""
    out = {}
    for rtype in shipped_types():
        for path, binding in required_bindings(rtype).items():
            owner: str | None = rtype
            for step in path.split(".")[1:-1]:  # backbone classes are per resource: PatientContact
                owner = next((f.model for f in _raw_fields(owner) if f.alias == step), None)
                if owner is None:
                    break  # an R4 path the R4B model lacks; tests cover every supported type
            if owner is not None:
                out[(owner, path.rsplit(".", 1)[1])] = binding
    return out


def _binding(model: str, name: str, extra: dict) -> Binding | None:
    found = _definition_bindings().get((model, name))
    if found is None and (model, name) in DATATYPE_VALUE_SETS:
        url = DATATYPE_VALUE_SETS[(model, name)]
        found = Binding(url, value_set_codes(url))
    enum = extra.get("enum_values")
    if found is not None and (found.codes or found.syntax):
        return found
    if enum:  # required bindings whose value set is not shipped: the model's codes
        return Binding(found.value_set if found else f"the codes of {model}.{name}", frozenset(enum))
    grammar = DATATYPE_SYNTAX.get((model, name))
    if grammar is None and name == "language" and is_resource(model):
        grammar = "language"
    if grammar is not None:
        return Binding(_GRAMMAR_VALUE_SETS[grammar], syntax=grammar)
    return found


@lru_cache(maxsize=None)
def fields(model_name: str) -> dict[str, Field]:
    """JSON element name -> what it must hold, for one fhir.resources R4B model class."""
    out: dict[str, Field] = {}
    for raw in _raw_fields(model_name):
        binding = _binding(model_name, raw.alias, raw.extra) if raw.kind == "code" else None
        refs = raw.extra.get("enum_reference_types")
        out[raw.alias] = Field(raw.alias, raw.is_list, raw.kind, raw.model, binding,
                               tuple(refs) if refs else None)
    return out


@lru_cache(maxsize=None)
def is_resource(name: str) -> bool:
    """True if `name` is an R4B resource type (not a datatype, not unknown)."""
    try:
        return issubclass(get_fhir_model_class(name), Resource)
    except (KeyError, ValueError):
        return False
