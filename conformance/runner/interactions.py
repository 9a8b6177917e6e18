"""Per-resource-type interaction checks: create, read, vread, update, conditional create,
history (instance and type) and delete, each run only when the CapabilityStatement advertises it.

May import: stdlib, conformance.runner.{context,expect,samples,http}. Check numbers inside a type
are fixed by interaction (.1 create ... .9 delete), so a report can be compared run to run.
Rules: FHIR R4 http.html (create 3.1.0.8, read 3.1.0.1, vread 3.1.0.2, update 3.1.0.4, delete
3.1.0.7, history 3.1.0.9, conditional create 3.1.0.8.1, managing versions 3.1.0.5).
"""
from __future__ import annotations

import json

from conformance.runner import expect
from conformance.runner.context import Context
from conformance.runner.http import body_of
from conformance.runner.samples import changed, looks_changed, sample


def ids_made(ctx: Context) -> dict[str, str]:
    return {rtype: made[0]["id"] for rtype, made in ctx.created.items() if made}


def create(ctx: Context, number: str, rtype: str, copy: int = 0, check: bool = True) -> dict | None:
    """POST a sample; with `check`, report .1 (status, Location, ETag, Last-Modified, body)."""
    body = sample(rtype, ctx.run_id, ids_made(ctx), copy)
    if body is None:
        if check:
            ctx.skip(f"{number}.1", f"{rtype}: create", "the toolkit has no sample data for this type "
                     "(or for a type it references)")
        return None
    response = ctx.http.request("POST", rtype, body, headers={"Prefer": "return=representation"})
    made = body_of(response)
    made = made if isinstance(made, dict) and made.get("resourceType") == rtype and made.get("id") else None
    if check:
        problems = expect.status(response, 201) + (["no resource with an id in the body"] if made is None else [])
        if made is not None:
            version = made.get("meta", {}).get("versionId")
            problems += expect.resource_headers(response, version) + expect.location(response, rtype, made["id"])
        ctx.check(f"{number}.1", f"{rtype}: create answers 201 with Location, ETag, Last-Modified and the "
                  "resource", not problems, "; ".join(problems))
    if made is not None and response.status_code == 201:
        ctx.created.setdefault(rtype, []).append(made)
        return made
    return None


def existing(ctx: Context, number: str, rtype: str) -> dict | None:
    """A type the client may not create (AuditEvent): take one the server already holds, the
    richest of the newest 50 (most elements, so that most search parameters have a value)."""
    response = ctx.http.get(rtype, params={"_count": "50"})
    found = [e["resource"] for e in (body_of(response) or {}).get("entry", [])
             if e.get("resource", {}).get("resourceType") == rtype]
    if not found:
        ctx.skip(f"{number}.0", f"{rtype}: find an instance to exercise", f"search found none (HTTP {response.status_code})")
        return None
    richest = max(found, key=lambda r: (len(r), len(json.dumps(r))))
    ctx.check(f"{number}.0", f"{rtype}: an existing instance is found to exercise", True, richest["id"])
    return richest


def read(ctx: Context, number: str, subject: dict) -> None:
    rtype, rid = subject["resourceType"], subject["id"]
    response = ctx.http.get(f"{rtype}/{rid}")
    body = body_of(response) or {}
    problems = expect.status(response, 200) + expect.resource_headers(response, subject.get("meta", {}).get("versionId"))
    if body.get("id") != rid or body.get("resourceType") != rtype:
        problems.append("the body is not the resource read")
    ctx.check(f"{number}.2", f"{rtype}: read answers 200 with the resource, ETag, Last-Modified",
              not problems, "; ".join(problems))


def vread(ctx: Context, number: str, subject: dict) -> None:
    rtype, rid = subject["resourceType"], subject["id"]
    version = subject.get("meta", {}).get("versionId", "1")
    response = ctx.http.get(f"{rtype}/{rid}/_history/{version}")
    body = body_of(response) or {}
    problems = expect.status(response, 200) + expect.resource_headers(response, version)
    if body.get("meta", {}).get("versionId") != version:
        problems.append(f"meta.versionId {body.get('meta', {}).get('versionId')!r} is not {version!r}")
    ctx.check(f"{number}.3", f"{rtype}: vread of version {version} answers that version", not problems, "; ".join(problems))


def update(ctx: Context, number: str, subject: dict) -> dict:
    """PUT a visible change with If-Match: 200, the next version, the change kept on read."""
    rtype, rid = subject["resourceType"], subject["id"]
    version = subject.get("meta", {}).get("versionId", "1")
    body = changed(subject, ctx.run_id)
    response = ctx.http.request("PUT", f"{rtype}/{rid}", body, headers={"If-Match": f'W/"{version}"'})
    updated = body_of(response) or {}
    new_version = updated.get("meta", {}).get("versionId")
    problems = expect.status(response, 200) + expect.resource_headers(response, new_version)
    if new_version == version:
        problems.append("meta.versionId did not change")
    reread = body_of(ctx.http.get(f"{rtype}/{rid}")) or {}
    if not looks_changed(subject, reread):
        problems.append("the change is not visible on a later read")
    ok = ctx.check(f"{number}.4", f"{rtype}: update with a current If-Match answers 200 with a new version",
                   not problems, "; ".join(problems))
    if ok:
        ctx.created[rtype][0] = reread
        return reread
    return subject


def conditional_create(ctx: Context, number: str, subject: dict) -> None:
    """If-None-Exist matching one resource: the server creates nothing and answers 200."""
    rtype = subject["resourceType"]
    ident = next((i for i in subject.get("identifier", []) if i.get("system") and i.get("value")), None)
    name = f"{rtype}: conditional create matching one resource answers 200 without creating"
    if ident is None:
        ctx.skip(f"{number}.5", name, "the sample has no identifier to match on")
        return
    body = {k: v for k, v in subject.items() if k not in ("id", "meta")}
    response = ctx.http.request("POST", rtype, body, headers={
        "If-None-Exist": f"identifier={ident['system']}|{ident['value']}"})
    location = response.headers.get("Location", "")
    problems = expect.status(response, 200)
    if f"/{rtype}/{subject['id']}" not in location and (body_of(response) or {}).get("id") != subject["id"]:
        problems.append(f"neither Location ({location!r}) nor the body names the existing {rtype}/{subject['id']}")
    ctx.check(f"{number}.5", name, not problems, "; ".join(problems))


def history_instance(ctx: Context, number: str, subject: dict) -> None:
    rtype, rid = subject["resourceType"], subject["id"]
    response = ctx.http.get(f"{rtype}/{rid}/_history")
    body = body_of(response)
    problems = expect.status(response, 200) + expect.fhir_json(response) + expect.bundle(body, "history")
    versions = [e.get("resource", {}).get("meta", {}).get("versionId") for e in (body or {}).get("entry", [])]
    want = int(subject.get("meta", {}).get("versionId", "1"))
    if len(versions) != want:
        problems.append(f"{len(versions)} entries for {want} versions")
    elif versions != sorted(versions, key=lambda v: int(v or 0), reverse=True):
        problems.append(f"versions {versions} are not newest first")
    ctx.check(f"{number}.6", f"{rtype}: instance history lists every version, newest first",
              not problems, "; ".join(problems))


def history_type(ctx: Context, number: str, subject: dict) -> None:
    rtype, rid = subject["resourceType"], subject["id"]
    response = ctx.http.get(f"{rtype}/_history")  # newest first, so the run's own writes lead
    body = body_of(response)
    problems = expect.status(response, 200) + expect.fhir_json(response) + expect.bundle(body, "history")
    if not any(e.get("resource", {}).get("id") == rid for e in (body or {}).get("entry", [])):
        problems.append(f"{rtype}/{rid} is not in the type history")
    ctx.check(f"{number}.7", f"{rtype}: type history is a history Bundle holding the created resource",
              not problems, "; ".join(problems))


def delete(ctx: Context, number: str, rtype: str) -> None:
    """Delete a copy made for the purpose; a later read is 410 Gone (http.html#delete)."""
    name = f"{rtype}: delete answers 200/204 and a later read 410 Gone"
    copy = create(ctx, number, rtype, copy=9, check=False)
    if copy is None:
        ctx.skip(f"{number}.9", name, "no copy could be created to delete")
        return
    ctx.created[rtype].remove(copy)
    response = ctx.http.request("DELETE", f"{rtype}/{copy['id']}")
    problems = expect.status(response, 200, 204)
    gone = ctx.http.get(f"{rtype}/{copy['id']}")
    problems += [f"read after delete: {p}" for p in expect.outcome(gone, 410)]
    ctx.check(f"{number}.9", name, not problems, "; ".join(problems))
