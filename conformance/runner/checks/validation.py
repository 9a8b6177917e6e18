"""Group 2: every resource and Bundle the server returned during the run, through every public
validator (conformance.validators.SUITE). Runs last, so it sees what all other groups received.

May import: stdlib, conformance.runner.{context,report}, conformance.validators.*. One check per
validator (2.1 fhir.schema.json, 2.2 FHIR.js, 2.3 Asymmetrik, 2.4 fhir.resources, 2.5 FHIRPath):
it fails on any error finding that is not a known false positive. Warnings are counted in the
detail; every finding, and every one set aside with its reason, goes into the report.
"""
from __future__ import annotations

import json

from conformance.runner.context import CheckGroup, Context
from conformance.validators import SUITE, known_issues


def _distinct(returned: list[tuple[str, dict]]) -> tuple[list[str], list[dict]]:
    """The same body returned twice is validated once, under the first request's label."""
    seen, refs, resources = set(), [], []
    for label, body in returned:
        key = json.dumps(body, sort_keys=True)
        if key not in seen:
            seen.add(key)
            refs.append(label)
            resources.append(body)
    return refs, resources


def run(ctx: Context) -> None:
    refs, resources = _distinct(ctx.http.returned)
    number = 0
    for _n, names, module in SUITE:
        findings = module.validate(resources, refs)
        real, known = known_issues.split(findings)
        ctx.report.findings += real
        ctx.report.set_aside += [(f, f"{issue.key}: {issue.reason}") for f, issue in known]
        for name in names:
            number += 1
            errors = [f for f in real if f.validator == name and f.severity == "error"]
            warnings = [f for f in real if f.validator == name and f.severity != "error"]
            aside = [f for f, _issue in known if f.validator == name]
            detail = "; ".join(f.line() for f in errors[:5])
            detail += f" ({len(errors)} errors, {len(warnings)} warnings, {len(aside)} known false positives set aside)"
            ctx.check(f"2.{number}", f"{name}: all {len(resources)} distinct resources and Bundles returned are "
                      "valid", not errors, detail.strip())


GROUP = CheckGroup("2", "Public validators over everything returned", 90, run)
