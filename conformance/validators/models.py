"""fhir.resources R4B models (pydantic 2) as a conformance validator.

May import: fhir.resources, pydantic, stdlib, conformance.validators.findings. R4B is identical
to R4 for the resource types the gateway serves; the latest pure-R4 release of fhir.resources
needs pydantic 1 and is not mixed into this environment. The models catch unknown elements,
wrong JSON types and malformed primitives; they do not check codes against value sets (that is
FHIR.js's part) nor invariants (the FHIRPath validator's part).
"""
from __future__ import annotations

from collections.abc import Sequence

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from conformance.validators.findings import Finding, element_path, refs_for

NAME = "fhir.resources"


def _model(resource_type: object):
    try:
        return get_fhir_model_class(str(resource_type))
    except (KeyError, ValueError):
        return None


def validate(resources: Sequence[dict], refs: Sequence[str] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for ref, resource in zip(refs_for(resources, refs), resources):
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        model = _model(rtype)
        if model is None:
            findings.append(Finding(NAME, ref, "resourceType", f"unknown resource type {rtype!r}"))
            continue
        try:
            model.model_validate(resource)
        except ValidationError as exc:
            findings += [Finding(NAME, ref, element_path(e["loc"]), e["msg"][:300]) for e in exc.errors()]
    return findings
