"""Advertised operations (CapabilityStatement rest.resource.operation) are exercised too: what
is advertised must work. Numbers: <type>.9.<k> for the k-th advertised operation.

May import: stdlib, conformance.runner.{context,http,interactions}. The toolkit knows how to
drive Patient $merge (FHIR R5 Patient-merge parameters: source-patient, target-patient) and
Patient $match (R4 patient-operation-match: resource, onlyCertainMatches, count); any other
advertised operation is reported as a skip naming it, never passed silently.
"""
from __future__ import annotations

from conformance.runner.context import Context
from conformance.runner.http import body_of
from conformance.runner.interactions import create


def _parameters(source: str, target: str) -> dict:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": f"Patient/{source}"}},
        {"name": "target-patient", "valueReference": {"reference": f"Patient/{target}"}}]}


def patient_merge(ctx: Context, number: str) -> None:
    """Two fresh Patients are merged: 200 with the survivor linking `replaces` the source, the
    source retired with `replaced-by`; merging the retired one again is refused (4xx)."""
    source = create(ctx, number, "Patient", copy=91, check=False)
    target = create(ctx, number, "Patient", copy=92, check=False)
    if source is None or target is None:
        ctx.skip(f"{number}.1", "Patient: $merge of two fresh Patients", "could not create two Patients")
        return
    response = ctx.http.request("POST", "Patient/$merge", _parameters(source["id"], target["id"]))
    body = body_of(response)
    result = next((p.get("resource") for p in (body or {}).get("parameter", [])
                   if isinstance(p, dict) and p.get("name") == "result"), None) if isinstance(body, dict) else None
    linked = isinstance(result, dict) and {"other": {"reference": f"Patient/{source['id']}"}, "type": "replaces"} \
        in result.get("link", [])
    ctx.check(f"{number}.1", "Patient: $merge answers 200 Parameters whose result links `replaces` the source",
              response.status_code == 200 and linked, f"HTTP {response.status_code}")
    retired = body_of(ctx.http.get(f"Patient/{source['id']}"))
    ok = isinstance(retired, dict) and retired.get("active") is False and {
        "other": {"reference": f"Patient/{target['id']}"}, "type": "replaced-by"} in retired.get("link", [])
    ctx.check(f"{number}.2", "Patient: the merged source is inactive and links `replaced-by` the survivor", ok)
    again = ctx.http.request("POST", "Patient/$merge", _parameters(source["id"], target["id"]))
    outcome = body_of(again)
    ctx.check(f"{number}.3", "Patient: merging an already merged Patient is refused with an OperationOutcome",
              400 <= again.status_code < 500 and isinstance(outcome, dict)
              and outcome.get("resourceType") == "OperationOutcome", f"HTTP {again.status_code}")


def patient_match(ctx: Context, number: str) -> None:
    """A fresh Patient is found by $match with its own data: 200 searchset whose entries carry
    search.score and the match-grade extension, the Patient among them; a Parameters without
    `resource` is refused with 400 and an OperationOutcome."""
    made = create(ctx, number, "Patient", copy=93, check=False)
    if made is None:
        ctx.skip(f"{number}.1", "Patient: $match of a fresh Patient", "could not create a Patient")
        return
    probe = {k: v for k, v in made.items() if k not in ("id", "meta")}
    response = ctx.http.request("POST", "Patient/$match", {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": probe}, {"name": "count", "valueInteger": 50}]})
    bundle = body_of(response)
    entries = bundle.get("entry", []) if isinstance(bundle, dict) else []
    graded = [e for e in entries if isinstance(e, dict) and e.get("search", {}).get("mode") == "match"
              and isinstance(e["search"].get("score"), (int, float)) and any(
                  x.get("url") == GRADE_URL and x.get("valueCode") in ("certain", "probable", "possible")
                  for x in e["search"].get("extension", []))]
    found = any(e.get("resource", {}).get("id") == made["id"] for e in graded)
    ctx.check(f"{number}.1", "Patient: $match answers a searchset whose graded entries include the Patient",
              response.status_code == 200 and isinstance(bundle, dict) and bundle.get("type") == "searchset"
              and len(graded) == len(entries) - sum(1 for e in entries if e.get("search", {}).get("mode") == "outcome")
              and found, f"HTTP {response.status_code}")
    bad = ctx.http.request("POST", "Patient/$match", {"resourceType": "Parameters", "parameter": [
        {"name": "count", "valueInteger": 1}]})
    outcome = body_of(bad)
    ctx.check(f"{number}.2", "Patient: $match without a resource is refused with 400 and an OperationOutcome",
              bad.status_code == 400 and isinstance(outcome, dict)
              and outcome.get("resourceType") == "OperationOutcome", f"HTTP {bad.status_code}")


GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"
KNOWN = {("Patient", "merge"): patient_merge, ("Patient", "match"): patient_match}


def exercise(ctx: Context, number: str, rtype: str, entry: dict) -> None:
    for k, operation in enumerate(entry.get("operation", []), 1):
        name = str(operation.get("name", ""))
        step = KNOWN.get((rtype, name))
        if step is None:
            ctx.skip(f"{number}.9.{k}", f"{rtype}: ${name}", "the toolkit does not know how to exercise it")
            continue
        step(ctx, f"{number}.9.{k}")
