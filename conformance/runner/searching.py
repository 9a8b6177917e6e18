"""Search checks for one resource type: searchset structure, GET vs POST _search, paging, every
advertised search parameter (a matching value finds the resource, a non-matching one does not)
and every advertised _include / _revinclude.

May import: stdlib, conformance.runner.{context,expect,http,interactions,search_values}. Rules:
FHIR R4 search.html (3.1.1.3 POST _search, 3.1.1.5.7 paging, 3.1.1.5.4 _include/_revinclude)
and bundle.html (searchset). Parameter searches carry `Prefer: handling=strict`, so a parameter
the server does not know is an error rather than silently ignored (search.html 3.1.1.5.x).
"""
from __future__ import annotations

from conformance.runner import expect
from conformance.runner.context import Context
from conformance.runner.http import body_of
from conformance.runner.interactions import create
from conformance.runner.search_values import probe, references

STRICT = {"Prefer": "handling=strict"}
MAX_PAGES = 20


def basics(ctx: Context, number: str, subject: dict, params: set[str]) -> None:
    rtype, rid = subject["resourceType"], subject["id"]
    if "_id" not in params:
        ctx.skip(f"{number}.8.1", f"{rtype}: search by _id", "_id is not advertised")
        return
    got = ctx.http.get(rtype, params={"_id": rid})
    body = body_of(got)
    problems = expect.status(got, 200) + expect.fhir_json(got) + expect.bundle(body, "searchset")
    if expect.ids(body) != [rid]:
        problems.append(f"matches {expect.ids(body)}, expected [{rid}]")
    ctx.check(f"{number}.8.1", f"{rtype}: GET search is a searchset Bundle (self link, fullUrl, "
              "search.mode) holding the resource", not problems, "; ".join(problems))
    posted = ctx.http.request("POST", f"{rtype}/_search", f"_id={rid}", content_type="application/x-www-form-urlencoded")
    problems = expect.status(posted, 200) + expect.bundle(body_of(posted), "searchset")
    if expect.ids(body_of(posted)) != [rid]:
        problems.append(f"matches {expect.ids(body_of(posted))}, expected [{rid}]")
    ctx.check(f"{number}.8.2", f"{rtype}: POST _search with a form body finds the same", not problems, "; ".join(problems))


def paging(ctx: Context, number: str, subject: dict, params: set[str]) -> None:
    """Three instances, _count=1: next links lead through exactly those three, once each."""
    rtype = subject["resourceType"]
    name = f"{rtype}: paging with _count=1 follows next links through every match exactly once"
    extra = [create(ctx, number, rtype, copy=n, check=False) for n in (1, 2)]
    if "_id" not in params or None in extra:
        ctx.skip(f"{number}.8.3", name, "needs _id and two more created instances")
        return
    want = [subject["id"]] + [e["id"] for e in extra]
    page = ctx.http.get(rtype, params={"_id": ",".join(want), "_count": "1"})
    seen, problems = [], expect.status(page, 200)
    for _ in range(MAX_PAGES):
        body = body_of(page)
        problems += expect.bundle(body, "searchset")
        if len(expect.ids(body)) > 1:
            problems.append(f"a page holds {len(expect.ids(body))} matches with _count=1")
        seen += expect.ids(body)
        nxt = expect.link(body, "next")
        if not nxt or problems:
            break
        page = ctx.http.get(nxt)
        problems += expect.status(page, 200)
    if sorted(seen) != sorted(want):
        problems.append(f"pages held {seen}, expected each of {want} once")
    ctx.check(f"{number}.8.3", name, not problems, "; ".join(problems))


def parameter(ctx: Context, number: str, subject: dict, code: str, params: set[str]) -> None:
    rtype, rid = subject["resourceType"], subject["id"]
    name = f"{rtype}: search parameter {code} finds the resource by a matching value and not by another"
    values = probe(rtype, code, subject, ctx.run_id)
    if values is None:
        ctx.skip(number, name, "no value for it in the resource (or no R4 definition known to the toolkit)")
        return
    narrow = {"_id": rid} if "_id" in params and code != "_id" else {"_count": "100"}
    hit = ctx.http.get(rtype, params={**narrow, code: values.match}, headers=STRICT)
    miss = ctx.http.get(rtype, params={**narrow, code: values.miss}, headers=STRICT)
    problems = [f"matching {values.match}: {p}" for p in expect.status(hit, 200) + expect.bundle(body_of(hit), "searchset")]
    problems += [f"other {values.miss}: {p}" for p in expect.status(miss, 200)]
    if not problems and rid not in _all_ids(ctx, body_of(hit)):
        problems.append(f"{code}={values.match} did not find {rtype}/{rid}")
    if not problems and rid in expect.ids(body_of(miss)):
        problems.append(f"{code}={values.miss} found {rtype}/{rid}: the parameter is not honoured")
    ctx.check(number, name, not problems, "; ".join(problems))


def _all_ids(ctx: Context, body: object) -> list[str]:
    found = expect.ids(body)
    for _ in range(MAX_PAGES):
        nxt = expect.link(body, "next")
        if not nxt:
            break
        body = body_of(ctx.http.get(nxt))
        found += expect.ids(body)
    return found


def include(ctx: Context, number: str, subject: dict, spec: str, reverse: bool) -> None:
    """_include=Source:param (on the source) or _revinclude=Source:param (on the target)."""
    source_type, _, code = spec.partition(":")
    rtype, rid = subject["resourceType"], subject["id"]
    kind = "_revinclude" if reverse else "_include"
    name = f"{rtype}: {kind}={spec} returns the related resources with search.mode include"
    if reverse:
        want = [s["id"] for s in ctx.created.get(source_type, []) if f"{rtype}/{rid}" in references(source_type, code, s)]
    else:
        made = {f"{t}/{r['id']}" for t, rs in ctx.created.items() for r in rs}
        want = [ref.split("/")[1] for ref in references(rtype, code, subject) if ref in made]
    if not want:
        ctx.skip(number, name, "no resource created by the run is related that way")
        return
    response = ctx.http.get(rtype, params={"_id": rid, kind: spec}, headers=STRICT)
    problems = expect.status(response, 200) + expect.bundle(body_of(response), "searchset")
    missing = sorted(set(want) - set(expect.ids(body_of(response), "include")))
    if missing:
        problems.append(f"not included: {missing}")
    ctx.check(number, name, not problems, "; ".join(problems))
