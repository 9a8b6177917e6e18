"""Group 4: the OperationOutcome battery. Bad requests must each get the documented status and a
valid OperationOutcome (its validity is checked with every other returned resource, group 2).

May import: stdlib, conformance.runner.{context,expect,http}. Statuses: FHIR R4 http.html
3.1.0.8.1/3.1.0.4 (400 unparseable or invalid, 422 allowed for rule violations; 412 version
conflict; 404 unknown id/version; 410 deleted), 3.1.0.1 (406 unsupported Accept), RFC 9110
(413 body too large, 415 unsupported Content-Type), search.html 3.1.1.5.x (unknown parameters:
ignored with a warning, or 400 under `Prefer: handling=strict`). The gateway's body limit is
5 MiB by default (settings max_body_bytes), so the oversize body is 6 MB.
"""
from __future__ import annotations

from conformance.runner import expect
from conformance.runner.context import CheckGroup, Context
from conformance.runner.http import body_of

INVALID = (400, 422)  # http.html: 400 fails basic validation, 422 profile or business rules


def _patient(ctx: Context) -> dict:
    return ctx.first("Patient") or {"resourceType": "Patient", "id": f"none-{ctx.run_id}"}


def battery(ctx: Context) -> list[tuple[str, str, object, tuple[int, ...]]]:
    """(number, name, request thunk, documented statuses)."""
    http, patient = ctx.http, _patient(ctx)
    pid = patient["id"]
    appointment = {"resourceType": "Appointment", "status": "booked", "start": "2026-12-01T09:00:00Z",
                   "participant": [{"status": "accepted", "actor": {"reference": f"Patient/{pid}"}}]}
    return [
        ("4.1", "malformed JSON is 400", lambda: http.request("POST", "Patient", '{"resourceType": "Patient",'), (400,)),
        ("4.2", 'a Patient with gender "M" (not in the required value set) is refused',
         lambda: http.request("POST", "Patient", {"resourceType": "Patient", "gender": "M"}), INVALID),
        ("4.3", "an Appointment with a start and no end (app-2/app-3) is refused",
         lambda: http.request("POST", "Appointment", appointment), INVALID),
        ("4.4", "a resource with an unknown element is refused",
         lambda: http.request("POST", "Patient", {"resourceType": "Patient", "shoeSize": 9}), INVALID),
        ("4.5", "an element of the wrong JSON type is refused (no coercion)",
         lambda: http.request("POST", "Patient", {"resourceType": "Patient", "active": "yes"}), INVALID),
        ("4.6", "a body whose resourceType differs from the URL is 400",
         lambda: http.request("POST", "Patient", {"resourceType": "Coverage"}), (400,)),
        ("4.7", "an unknown search parameter under Prefer: handling=strict is 400",
         lambda: http.get("Patient", params={f"shoe-size-{ctx.run_id}": "9"}, headers={"Prefer": "handling=strict"}), (400,)),
        ("4.8", "a text/plain body is 415",
         lambda: http.request("POST", "Patient", "x", content_type="text/plain"), (415,)),
        ("4.9", "an XML-only Accept is 406", lambda: http.get(f"Patient/{pid}", headers={"Accept": "application/fhir+xml"}), (406,)),
        ("4.10", "a 6 MB body is 413", lambda: http.request("POST", "Patient", '{"resourceType": "Patient"}' + " " * 6_000_000), (413,)),
        ("4.11", "an update with a stale If-Match is 412", lambda: http.request(
            "PUT", f"Patient/{pid}", patient, headers={"If-Match": 'W/"999999"'}), (412,)),
        ("4.12", "a vread of a version that does not exist is 404", lambda: http.get(f"Patient/{pid}/_history/999999"), (404,)),
        ("4.13", "a read of an id that does not exist is 404", lambda: http.get(f"Patient/no-such-{ctx.run_id}"), (404,)),
        ("4.14", "an unknown resource type is 404 (or 400)", lambda: http.get(f"Spaceship/{ctx.run_id}"), (404, 400)),
    ]


def lenient_unknown_parameter(ctx: Context) -> None:
    """search.html: an ignored parameter is reported; the gateway puts a warning outcome entry."""
    response = ctx.http.get("Patient", params={f"shoe-size-{ctx.run_id}": "9"})
    body = body_of(response)
    problems = expect.status(response, 200) + expect.bundle(body, "searchset")
    outcomes = [e["resource"] for e in (body or {}).get("entry", [])
                if e.get("search", {}).get("mode") == "outcome" and e.get("resource", {}).get("resourceType") == "OperationOutcome"]
    if not any(i.get("severity") == "warning" for o in outcomes for i in o.get("issue", [])):
        problems.append("no OperationOutcome warning entry (search.mode outcome) reports the ignored parameter")
    ctx.check("4.15", "an unknown search parameter without strict handling is ignored with a warning",
              not problems, "; ".join(problems))


def run(ctx: Context) -> None:
    if "Patient" not in ctx.resources():
        ctx.skip("4.0", "OperationOutcome battery", "the server does not advertise Patient, which the battery uses")
        return
    for number, name, call, statuses in battery(ctx):
        problems = expect.outcome(call(), *statuses)
        ctx.check(number, f"{name}, with an OperationOutcome", not problems, "; ".join(problems))
    lenient_unknown_parameter(ctx)


GROUP = CheckGroup("4", "OperationOutcome battery", 40, run)
