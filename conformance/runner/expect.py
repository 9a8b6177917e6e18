"""What a response must look like: headers, Bundle structure, OperationOutcome; each function
returns the list of problems found (empty when the response is right).

May import: requests, stdlib. The rules cite FHIR R4 http.html (RESTful API) and bundle.html.
"""
from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

import requests

_ETAG = re.compile(r'^W/"[^"]+"$')


def status(response: requests.Response, *expected: int) -> list[str]:
    if response.status_code in expected:
        return []
    return [f"HTTP {response.status_code}, expected {'/'.join(map(str, expected))}{diagnostics(response)}"]


def diagnostics(response: requests.Response) -> str:
    """The server's own words, when it sent an OperationOutcome: they say why."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    texts = [i.get("diagnostics") or i.get("code", "") for i in body.get("issue", [])]
    return f" ({'; '.join(t for t in texts if t)[:300]})"


def fhir_json(response: requests.Response) -> list[str]:
    # http.html#mime-type: the formal MIME type for FHIR JSON is application/fhir+json
    ctype = response.headers.get("Content-Type", "")
    return [] if ctype.split(";")[0].strip() == "application/fhir+json" else [f"Content-Type {ctype!r}"]


def resource_headers(response: requests.Response, version: str | None = None) -> list[str]:
    """http.html#read: ETag W/"<versionId>" and Last-Modified on a returned resource."""
    problems = fhir_json(response)
    etag = response.headers.get("ETag", "")
    if not _ETAG.match(etag):
        problems.append(f"ETag {etag!r} is not a weak W/\"n\" tag")
    elif version is not None and etag != f'W/"{version}"':
        problems.append(f"ETag {etag!r} does not match meta.versionId {version!r}")
    try:
        parsedate_to_datetime(response.headers["Last-Modified"])
    except (KeyError, TypeError, ValueError):
        problems.append(f"Last-Modified {response.headers.get('Last-Modified')!r} is not an HTTP date")
    return problems


def location(response: requests.Response, rtype: str, rid: str) -> list[str]:
    """http.html#create: Location holds [base]/Type/id/_history/vid of the new version."""
    loc = response.headers.get("Location", "")
    return [] if f"/{rtype}/{rid}/_history/" in loc else [f"Location {loc!r} does not name {rtype}/{rid}/_history/n"]


def bundle(body: object, kind: str) -> list[str]:
    """bundle.html: type, self link (searchset), entries with absolute fullUrl and search.mode."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        return ["the body is not a Bundle"]
    problems = [] if body.get("type") == kind else [f"Bundle.type {body.get('type')!r}, expected {kind!r}"]
    if kind == "searchset" and not any(link.get("relation") == "self" for link in body.get("link", [])):
        problems.append("no self link")
    for i, entry in enumerate(body.get("entry", [])):
        resource = entry.get("resource") or {}
        if kind == "searchset" and entry.get("search", {}).get("mode") not in ("match", "include", "outcome"):
            problems.append(f"entry[{i}].search.mode missing")
        if resource.get("resourceType") != "OperationOutcome" and kind == "searchset" \
                and not str(entry.get("fullUrl", "")).startswith(("http://", "https://")):
            problems.append(f"entry[{i}].fullUrl {entry.get('fullUrl')!r} is not absolute")
    return problems


def outcome(response: requests.Response, *expected: int) -> list[str]:
    """operationoutcome.html: an error answered with a body is an OperationOutcome with an issue."""
    problems = status(response, *expected)
    try:
        body = response.json()
    except ValueError:
        return problems + ["the body is not JSON"]
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return problems + ["the body is not an OperationOutcome"]
    if not any(i.get("severity") in ("error", "fatal") for i in body.get("issue", [])):
        problems.append("no issue of severity error/fatal")
    return problems + fhir_json(response)


def ids(body: object, mode: str = "match") -> list[str]:
    """Ids of the searchset entries in the given search mode."""
    if not isinstance(body, dict):
        return []
    return [e.get("resource", {}).get("id") for e in body.get("entry", [])
            if e.get("search", {}).get("mode", "match") == mode]


def link(body: object, relation: str) -> str | None:
    if not isinstance(body, dict):
        return None
    return next((l.get("url") for l in body.get("link", []) if l.get("relation") == relation), None)
