"""System-level interactions advertised in rest.interaction: transaction and batch (checks 1.2.x).

May import: stdlib, conformance.runner.{context,expect,http,samples}. Rules: FHIR R4 http.html
3.1.0.11 (batch/transaction): a transaction is processed as one unit and `urn:uuid:` references
between its entries are rewritten to the ids the server assigns; a batch answers each entry on
its own, with its own status.
"""
from __future__ import annotations

import json
import uuid

from conformance.runner import expect
from conformance.runner.context import Context
from conformance.runner.http import body_of
from conformance.runner.interactions import ids_made
from conformance.runner.samples import sample


def interactions(ctx: Context) -> None:
    codes = {i.get("code") for i in ctx.rest().get("interaction", [])}
    if "transaction" in codes:
        transaction(ctx)
    if "batch" in codes:
        batch(ctx)


def transaction(ctx: Context) -> None:
    """A Patient plus a resource pointing at it by urn:uuid. A server may refuse a transaction it
    cannot apply atomically (e.g. writes owned by two backends), but then with a 4xx and nothing
    written (http.html 3.1.0.11.2); so each referencing type is tried until one is accepted."""
    name = "transaction: a Patient and a resource pointing at it by urn:uuid are created together"
    refused, problems = [], []
    for n, other in enumerate(t for t in _REFERRING if t in ctx.resources()):
        patient, urn = sample("Patient", ctx.run_id, {}, copy=70 + n), f"urn:uuid:{uuid.uuid4()}"
        second = sample(other, ctx.run_id, {**ids_made(ctx), "Patient": "PLACEHOLDER"}, copy=70 + n)
        if patient is None or second is None:
            continue
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": urn, "resource": patient, "request": {"method": "POST", "url": "Patient"}},
            {"resource": _point(second, urn), "request": {"method": "POST", "url": other}}]}
        response = ctx.http.request("POST", "", bundle)
        if response.status_code in (400, 409, 422) and not expect.outcome(response, response.status_code):
            problems += _nothing_written(ctx, patient)
            refused.append(f"Patient+{other} refused{expect.diagnostics(response)}")
            continue
        problems += expect.status(response, 200) + expect.bundle(body_of(response), "transaction-response")
        problems += _applied(ctx, (body_of(response) or {}).get("entry", []), other)
        break
    else:
        problems.append("no transaction was accepted" if refused else "no Patient/referencing samples to send")
    ctx.check("1.2.1", name, not problems, "; ".join(problems + refused))


_REFERRING = ("Appointment", "DocumentReference", "Coverage")


def _point(resource: dict, urn: str) -> dict:
    text = json.dumps(resource).replace('"Patient/PLACEHOLDER"', json.dumps(urn))
    return json.loads(text)


def _nothing_written(ctx: Context, patient: dict) -> list[str]:
    ident = patient["identifier"][0]
    found = body_of(ctx.http.get("Patient", params={"identifier": f"{ident['system']}|{ident['value']}"})) or {}
    return [] if not expect.ids(found) else [f"a refused transaction left Patient {expect.ids(found)} behind"]


def _applied(ctx: Context, entries: list[dict], other: str) -> list[str]:
    statuses = [e.get("response", {}).get("status", "") for e in entries]
    if len(entries) != 2 or not all(s.startswith("201") for s in statuses):
        return [f"entry statuses {statuses}, expected two 201"]
    return _rewritten(ctx, entries, other)


def _rewritten(ctx: Context, entries: list[dict], other: str) -> list[str]:
    pid = entries[0]["response"].get("location", "").split("Patient/")[-1].split("/")[0]
    other_id = entries[1]["response"].get("location", "").split(f"{other}/")[-1].split("/")[0]
    stored = json.dumps(body_of(ctx.http.get(f"{other}/{other_id}")) or {})
    return [] if f'"Patient/{pid}"' in stored and "urn:uuid" not in stored else [
        f"the urn:uuid reference in {other}/{other_id} was not rewritten to Patient/{pid}"]


def batch(ctx: Context) -> None:
    name = "batch: each entry is answered on its own (a read that exists 200, one that does not 404)"
    patient = ctx.first("Patient")
    if patient is None:
        ctx.skip("1.2.2", name, "no Patient was created to read")
        return
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Patient/{patient['id']}"}},
        {"request": {"method": "GET", "url": f"Patient/no-such-{ctx.run_id}"}}]}
    response = ctx.http.request("POST", "", bundle)
    body = body_of(response)
    problems = expect.status(response, 200) + expect.bundle(body, "batch-response")
    statuses = [e.get("response", {}).get("status", "")[:3] for e in (body or {}).get("entry", [])]
    if statuses != ["200", "404"]:
        problems.append(f"entry statuses {statuses}, expected ['200', '404']")
    ctx.check("1.2.2", name, not problems, "; ".join(problems))
