"""FHIRPath invariants from the R4 StructureDefinitions, as a conformance validator.

May import: gateway.services.invariants (the same evaluator the gateway runs on input; the
conformance package may import gateway, never the reverse), conformance.validators.node.
"""
from __future__ import annotations

import re

from conformance.validators.node import Finding
from gateway.services.invariants import broken


def validate(resources: list[dict]) -> list[Finding]:
    return [Finding("fhirpath", index, _element(where), f"{key}: {human}")
            for index, resource in enumerate(resources) for key, where, human in broken(resource)]


def _element(where: str) -> str:
    """Patient.contact[0] -> Patient.contact (the element the invariant is defined on)."""
    return re.sub(r"\[\d+\]", "", where)
