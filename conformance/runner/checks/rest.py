"""Group 1: the CapabilityStatement tells the truth. It is fetched, then for every advertised
resource type, interaction and search parameter the run creates realistic data, exercises the
interaction and checks status, headers, Bundle structure, paging and search semantics; every
advertised operation is run as well (conformance.runner.operations).

May import: stdlib, conformance.runner.*. Numbers: 1.1 the statement, 1.2 system interactions
(transaction, batch), 1.<3+n> the n-th resource type (referenced types first).
"""
from __future__ import annotations

from conformance.runner import expect, interactions, operations, searching, system
from conformance.runner.context import CheckGroup, Context
from conformance.runner.http import body_of
from conformance.runner.samples import ordered


def capability(ctx: Context) -> bool:
    response = ctx.http.get("metadata")
    body = body_of(response)
    ok = ctx.check("1.1.1", "GET metadata answers 200 with a CapabilityStatement",
                   response.status_code == 200 and isinstance(body, dict)
                   and body.get("resourceType") == "CapabilityStatement", f"HTTP {response.status_code}")
    if not ok:
        return False
    ctx.statement = body
    ctx.check("1.1.2", "the CapabilityStatement is served as application/fhir+json",
              not expect.fhir_json(response), "; ".join(expect.fhir_json(response)))
    ctx.check("1.1.3", "fhirVersion is 4.0.1 and json is among the formats",
              body.get("fhirVersion") == "4.0.1" and any("json" in f for f in body.get("format", [])),
              f"fhirVersion {body.get('fhirVersion')!r}, format {body.get('format')!r}")
    ctx.check("1.1.4", "it is a server statement listing resources", ctx.rest().get("mode") == "server"
              and bool(ctx.resources()), f"rest.mode {ctx.rest().get('mode')!r}")
    return True


def exercise(ctx: Context, number: str, rtype: str, entry: dict) -> dict | None:
    codes = {i.get("code") for i in entry.get("interaction", [])}
    params = {p["name"] for p in entry.get("searchParam", []) if "name" in p}
    subject = interactions.create(ctx, number, rtype) if "create" in codes else None
    subject = subject or interactions.existing(ctx, number, rtype)
    if subject is None:
        return None
    for code, step in (("read", interactions.read), ("vread", interactions.vread)):
        if code in codes:
            step(ctx, number, subject)
    if "update" in codes and rtype in ctx.created:
        subject = interactions.update(ctx, number, subject)
    if "create" in codes and entry.get("conditionalCreate") and rtype in ctx.created:
        interactions.conditional_create(ctx, number, subject)
    if "history-instance" in codes:
        interactions.history_instance(ctx, number, subject)
    if "history-type" in codes:
        interactions.history_type(ctx, number, subject)
    if "search-type" in codes:
        searching.basics(ctx, number, subject, params)
        if rtype in ctx.created:
            searching.paging(ctx, number, subject, params)
        for k, code in enumerate(sorted(params), 1):
            searching.parameter(ctx, f"{number}.8.4.{k}", subject, code, params)
    operations.exercise(ctx, number, rtype, entry)
    if "delete" in codes and rtype in ctx.created:
        interactions.delete(ctx, number, rtype)
    return subject


def related(ctx: Context, number: str, subject: dict, entry: dict) -> None:
    """After every type exists: the advertised _include and _revinclude of one type."""
    codes = {i.get("code") for i in entry.get("interaction", [])}
    if "search-type" not in codes:
        return
    for k, spec in enumerate(entry.get("searchInclude", []), 1):
        searching.include(ctx, f"{number}.8.5.{k}", subject, spec, reverse=False)
    for k, spec in enumerate(entry.get("searchRevInclude", []), 1):
        searching.include(ctx, f"{number}.8.6.{k}", subject, spec, reverse=True)


def run(ctx: Context) -> None:
    if not capability(ctx):
        return
    resources = ctx.resources()
    subjects = {}
    for n, rtype in enumerate(ordered(list(resources)), 3):
        subjects[rtype] = (f"1.{n}", exercise(ctx, f"1.{n}", rtype, resources[rtype]))
    for rtype, (number, subject) in subjects.items():
        if subject is not None:
            related(ctx, number, subject, resources[rtype])
    system.interactions(ctx)


GROUP = CheckGroup("1", "REST interactions and CapabilityStatement truth", 10, run)
