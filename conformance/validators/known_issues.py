"""Known false positives of the public validators: the ONE place they are listed, with reasons.

May import: stdlib, conformance.validators.findings. Each entry matches narrowly, on all three
of: the validator, a path pattern and a message pattern (regular expressions, `re.search`).
Nothing is ever silenced wholesale: a finding is set aside only when one entry matches it
entirely, and the runner reports every set-aside finding with the reason below.

Not listed, because it does not reproduce with the locked versions: FHIR.js (fhir 4.12.0)
accepts an absolute URL in CoverageEligibilityResponse.request (earlier releases refused it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from conformance.validators.findings import Finding


@dataclass(frozen=True)
class KnownIssue:
    key: str
    validator: str  # regex on Finding.validator
    path: str  # regex on Finding.path
    message: str  # regex on Finding.message
    reason: str

    def matches(self, finding: Finding) -> bool:
        return bool(re.search(self.validator, finding.validator) and re.search(self.path, finding.path)
                    and re.search(self.message, finding.message))


KNOWN_ISSUES = (
    KnownIssue(
        "schema-fhirversion-4.0.1", r"^(fhir\.schema\.json|asymmetrik)$", r"^fhirVersion$",
        r"^'4\.0\.1' is not one of \[|^should be equal to one of the allowed values$",
        "the published R4 fhir.schema.json enumerates FHIRVersion codes only up to 4.0.0, so the "
        "correct fhirVersion 4.0.1 of an R4 CapabilityStatement fails it (the R4 FHIRVersion value "
        "set does contain 4.0.1: http://hl7.org/fhir/R4/valueset-FHIR-version.html)"),
    KnownIssue(
        "fhirpath-dom-3-as-collection", r"^fhirpath$", r"^[A-Z][A-Za-z]+$|\.(resource|contained\[\d+\])$",
        r"^dom-3: could not be evaluated \(ValueError: Expected singleton on left side of 'as'",
        "the R4 text of dom-3 applies as(canonical) to %resource.descendants(), a collection, which "
        "FHIRPath N1 (section 6.3.4, as) defines as an error; fhirpathpy follows the FHIRPath spec. "
        "It only arises for resources with contained resources (R5 rewrote dom-3 with ofType())"),
)


def split(findings: list[Finding]) -> tuple[list[Finding], list[tuple[Finding, KnownIssue]]]:
    """(findings that stand, [(set-aside finding, the known issue it matches)])."""
    real: list[Finding] = []
    known: list[tuple[Finding, KnownIssue]] = []
    for finding in findings:
        match = next((issue for issue in KNOWN_ISSUES if issue.matches(finding)), None)
        if match is None:
            real.append(finding)
        else:
            known.append((finding, match))
    return real, known
