"""Known false positives of the public validators, in ONE place, each with its reason.

May import: stdlib, conformance.validators.node (Finding). Each entry matches narrowly: the
validator, a path pattern and a message pattern. Nothing is ever silenced wholesale; the runner
reports what was set aside and why.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from conformance.validators.node import Finding


@dataclass(frozen=True)
class KnownIssue:
    validator: str  # regex on Finding.validator
    path: str  # regex on Finding.path
    message: str  # regex on Finding.message
    reason: str


KNOWN = (
    KnownIssue(r"^(fhir\.schema\.json|asymmetrik)$", r"^fhirVersion$", r"4\.0\.0|allowed values",
               "the published R4 fhir.schema.json enumerates FHIR versions only up to 4.0.0, so a "
               "correct fhirVersion 4.0.1 fails it (an error in the schema, fixed in later builds)"),
    KnownIssue(r"^fhirpath$", r"^Bundle$", r"^bdl-(3|4|10): could not be evaluated",
               "fhirpathpy cannot evaluate the Bundle invariants bdl-3/bdl-4/bdl-10 (they need "
               "functions it lacks); the gateway's Bundles are built by the server itself"),
)


def split(findings: list[Finding]) -> tuple[list[Finding], list[tuple[Finding, str]]]:
    """(real findings, [(set-aside finding, reason)])."""
    real, known = [], []
    for finding in findings:
        match = next((k for k in KNOWN if re.search(k.validator, finding.validator)
                      and re.search(k.path, finding.path) and re.search(k.message, finding.message)), None)
        if match is None:
            real.append(finding)
        else:
            known.append((finding, match.reason))
    return real, known
