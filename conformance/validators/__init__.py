"""Public FHIR validators the conformance toolkit runs over what a server returns.

May import: the validator modules of this package. `SUITE` lists them in report order; each
module's `validate(resources, refs=None) -> list[Finding]` takes a batch (the Node one starts
one process per batch). `validate_all` runs every one of them.
"""
from __future__ import annotations

from collections.abc import Sequence

from conformance.validators import invariants, json_schema, models, node
from conformance.validators.findings import Finding

# (number within the validation check group, validator names it reports, module)
SUITE = (
    ("1", ("fhir.schema.json",), json_schema),
    ("2", node.NAMES, node),
    ("3", ("fhir.resources",), models),
    ("4", ("fhirpath",), invariants),
)


def validate_all(resources: Sequence[dict], refs: Sequence[str] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for _number, _names, module in SUITE:
        findings += module.validate(resources, refs)
    return findings
