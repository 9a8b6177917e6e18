"""FHIR-side facts per resource type, one module each, discovered by scan.

May import: stdlib only. A module here defines `RESOURCE = ResourceType(...)`: its search
parameters (from the R4 SearchParameter definitions), which elements are references, and how
it links to the Patient compartment. Routes, search and the CapabilityStatement pick a new
module up by themselves (house recipe "new resource type").
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class SearchParam:
    """One search parameter: its code, FHIR search type and where its values live.

    `paths` are simple element paths relative to the resource ("name.family", "participant.actor"),
    optionally with a filter in brackets: "telecom[system=phone]"; a date path "start~end" reads
    two sibling elements as one [low, high] range. `targets` restricts reference parameters to
    target types ("Patient"). `definition` is the canonical SearchParameter URL. `code_system` is
    the implicit system of a plain `code` element (its required binding's CodeSystem), so that
    `gender=http://hl7.org/fhir/administrative-gender|male` matches (R4 search.html#token).
    """

    code: str
    type: str  # token | string | date | reference | uri | number | quantity
    paths: tuple[str, ...]
    targets: tuple[str, ...] = ()
    definition: str = ""
    sortable: bool = False
    code_system: str = ""


@dataclass(frozen=True)
class ResourceType:
    """What the gateway knows about one resource type on the FHIR side."""

    name: str
    search_params: tuple[SearchParam, ...] = ()
    # search parameters whose value links a resource into a Patient's compartment
    patient_compartment: tuple[str, ...] = ()
    # element paths holding References, checked on write (e.g. "subject", "participant.actor")
    reference_paths: tuple[str, ...] = ()
    # reverse/forward includes this type supports, e.g. ("Appointment:patient",)
    includes: tuple[str, ...] = field(default_factory=tuple)
    # whether a reference to this type must name a stored resource (refused with 422 if not);
    # False for types the server keeps for its own purposes (the staff directory), which
    # references from apps usually do not point into (an EHR's practitioners)
    references_must_resolve: bool = True
    # served by the backend owning this other type, not by a `resources` entry of its own (an
    # eligibility question goes to the EHR that holds the Coverage it asks about)
    owned_with: str = ""

    def param(self, code: str) -> SearchParam | None:
        for p in self.search_params:
            if p.code == code:
                return p
        return None


@lru_cache(maxsize=1)
def resource_types() -> dict[str, ResourceType]:
    """Every ResourceType defined in this package, by name (read-only after first call)."""
    found: dict[str, ResourceType] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        resource = getattr(module, "RESOURCE", None)
        if isinstance(resource, ResourceType):
            found[resource.name] = resource
    return found
