"""Batch and transaction Bundles POSTed to the base (R4 http.html#transaction).

May import: gateway.store, gateway.errors, gateway.services.*. A transaction runs in one
database transaction (all or nothing) with urn:uuid references rewritten to the ids the server
assigns; a batch runs every entry on its own and reports each entry's outcome.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

from gateway.errors import BadRequest, FhirError, Issue, MethodNotAllowed, PreconditionFailed
from gateway.services.audit import Agent
from gateway.services.canonical import instant
from gateway.services.duplicates import flags_of, outcome_of
from gateway.services.eligibility import REQUEST as ELIGIBILITY_REQUEST
from gateway.services.interactions import Interactions, parse_etag
from gateway.services.search import run_search
from gateway.services.validation import validate_bundle_envelope, validate_resource
from gateway.store.resources import StoredResource

# R4 http.html#trules: process DELETE, then POST, then PUT/PATCH, then GET/HEAD.
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass
class Entry:
    index: int
    method: str
    type: str
    id: str | None
    version: str | None
    query: str
    full_url: str | None
    resource: dict | None
    if_none_exist: str | None
    if_match: str | None


def _parse_url(url: str, index: int) -> tuple[str, str | None, str | None, str]:
    """'Patient', 'Patient/1', 'Patient/1/_history/2', 'Patient?name=x' -> parts."""
    split = urlsplit(url)
    parts = [p for p in split.path.split("/") if p]
    if split.scheme or not parts or len(parts) not in (1, 2, 4) or (
            len(parts) == 4 and parts[2] != "_history"):
        raise BadRequest(f"Bundle.entry[{index}].request.url {url!r} is not a relative "
                         "Type, Type/id or Type?query URL",
                         expression=(f"Bundle.entry[{index}].request.url",))
    return parts[0], parts[1] if len(parts) > 1 else None, parts[3] if len(parts) == 4 else None, split.query


def _entries(bundle: dict) -> list[Entry]:
    out = []
    for i, raw in enumerate(bundle.get("entry", [])):
        request = raw["request"]
        rtype, rid, version, query = _parse_url(request["url"], i)
        out.append(Entry(i, request["method"], rtype, rid, version, query, raw.get("fullUrl"),
                         raw.get("resource"), request.get("ifNoneExist"), request.get("ifMatch")))
    return out


def _rewrite(value, mapping: dict[str, str]):
    """Replace every Reference.reference that is a known urn:uuid with its Type/id."""
    if isinstance(value, dict):
        return {k: (mapping.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, mapping))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, mapping) for v in value]
    return value


def _response(stored: StoredResource | None, status: str, *, with_resource: bool) -> dict:
    entry: dict = {"response": {"status": status}}
    if stored is not None:
        entry["response"].update({
            "location": f"{stored.resource_type}/{stored.id}/_history/{stored.version_id}",
            "etag": f'W/"{stored.version_id}"', "lastModified": instant(stored.last_updated)})
        if with_resource and stored.content:
            entry["resource"] = json.loads(stored.content)
    return entry


class BundleProcessor:
    """Runs batch/transaction Bundles through the same Interactions as single requests."""

    def __init__(self, service) -> None:
        self.service = service  # FhirService: db, settings, clock, check()

    def process(self, body: object, base_url: str, agent: Agent = Agent(),
                authorize: Callable[[str, str], None] | None = None) -> dict:
        """Run a batch/transaction. `authorize(type, interaction)` is called for every entry
        (SMART scopes apply entry by entry, R4 http.html#transaction + SMART scopes)."""
        try:
            bundle = validate_bundle_envelope(body)
        except FhirError as exc:
            self.service.audit_only(agent, "batch", exc.status, description=exc.diagnostics)
            raise
        self.authorize = authorize or (lambda _type, _interaction: None)
        if bundle["type"] == "transaction":
            return self._transaction(bundle, base_url, agent)
        return self._batch(bundle, base_url, agent)

    def _prepare(self, entry: Entry, allow_urn: bool) -> None:
        interaction = {"GET": "search-type" if entry.id is None else "read", "POST": "create",
                       "PUT": "update", "DELETE": "delete"}.get(entry.method)
        if interaction is None:
            raise BadRequest(f"Bundle.entry[{entry.index}].request.method {entry.method} is not supported")
        self.service.check(entry.type, "vread" if entry.version else interaction)
        self.authorize(entry.type, "vread" if entry.version else interaction)
        if interaction == "create" and entry.type == ELIGIBILITY_REQUEST:
            # a live question to an EHR, answered and stored apart from any other write
            raise MethodNotAllowed(f"Bundle.entry[{entry.index}]: a {entry.type} is created on its "
                                   f"own (POST [base]/{entry.type}), not inside a Bundle",
                                   expression=(f"Bundle.entry[{entry.index}]",))
        if entry.resource is not None and entry.method in ("POST", "PUT"):
            entry.resource = self.service.admit(validate_resource(entry.resource, entry.type, allow_urn_refs=allow_urn))
            for read_type in self.service.implied_reads(entry.type, entry.resource):
                self.authorize(read_type, "subscribe")

    def _run(self, ops: Interactions, entry: Entry, base_url: str) -> dict:
        if entry.method == "GET":
            if entry.id is None:
                found = run_search(ops.session, entry.type, parse_qsl(entry.query), base_url=base_url,
                                   default_count=self.service.settings.default_page_size,
                                   max_count=self.service.settings.max_page_size)
                return {"resource": found, "response": {"status": "200 OK"}}
            stored = ops.vread(entry.type, entry.id, entry.version) if entry.version else ops.read(entry.type, entry.id)
            return _response(stored, "200 OK", with_resource=True)
        if entry.method == "DELETE":
            if entry.id is None:
                raise BadRequest(f"Bundle.entry[{entry.index}]: conditional delete is not supported")
            ops.delete(entry.type, entry.id)
            return {"response": {"status": "204 No Content"}}
        if entry.method == "POST":
            result = (ops.conditional_create(entry.resource, entry.if_none_exist)
                      if entry.if_none_exist else ops.create(entry.resource, entry.id))
        else:
            if entry.id is None:
                raise BadRequest(f"Bundle.entry[{entry.index}]: PUT needs Type/id in request.url")
            result = ops.update(entry.resource, entry.id, parse_etag(entry.if_match))
        answer = _response(result.stored, "201 Created" if result.created else "200 OK", with_resource=True)
        outcome = outcome_of(flags_of(ops.session, result.stored))  # possible duplicates queued
        if outcome is not None:
            answer["response"]["outcome"] = outcome
        return answer

    def _transaction(self, bundle: dict, base_url: str, agent: Agent) -> dict:
        responses: dict[int, dict] = {}
        with self.service.unit(agent, "transaction") as (session, note):
            entries = _entries(bundle)
            for entry in entries:
                self._prepare(entry, allow_urn=True)
            ops = self.service.interactions(session, base_url, queue_only=self._split_delivery(entries))
            ops.deferred_refs = []
            mapping = self._assign_ids(ops, entries)
            for entry in sorted(entries, key=lambda e: _ORDER[e.method]):
                if entry.resource is not None:
                    entry.resource = _rewrite(entry.resource, mapping)
                try:
                    responses[entry.index] = self._run(ops, entry, base_url)
                except FhirError as exc:
                    # The whole transaction rolls back; say which entry made it fail.
                    exc.issues.insert(0, Issue("error", exc.code, f"Transaction failed at "
                                               f"Bundle.entry[{entry.index}]; nothing was written",
                                               (f"Bundle.entry[{entry.index}]",)))
                    raise
            pending, ops.deferred_refs = ops.deferred_refs, None
            for resource in pending:
                ops.check_references(resource)
            note.resources.extend(r["resource"] for r in responses.values()
                                  if r.get("resource", {}).get("resourceType") not in (None, "Bundle"))
        return {"resourceType": "Bundle", "type": "transaction-response",
                "entry": [responses[e.index] for e in entries]}

    def _split_delivery(self, entries: list[Entry]) -> bool:
        """True when the transaction carries several writes owned by backend EHRs. Those are
        all queued in the outbox (in entry order) instead of sent one by one: an EHR that has
        ACKed part of a transaction cannot be rolled back (HL7 v2 has none), so nothing may
        reach it before the whole transaction has committed here."""
        pushed = [e for e in entries if e.method != "GET"
                  and self.service.delivery.owner(e.type) != "local"]
        return len(pushed) > 1

    def _assign_ids(self, ops: Interactions, entries: list[Entry]) -> dict[str, str]:
        """Give every POSTed entry its server id up front so urn:uuid references resolve."""
        mapping: dict[str, str] = {}
        for entry in entries:
            if entry.method != "POST":
                continue
            if entry.if_none_exist:
                # Resolve If-None-Exist now (locked, in this transaction) so the urn:uuid maps
                # to the existing resource or to the id the create below will use.
                ops.lock_criteria(entry.type, entry.if_none_exist)
                matches = ops.match(entry.type, entry.if_none_exist)
                if len(matches) > 1:
                    raise PreconditionFailed(f"Bundle.entry[{entry.index}].request.ifNoneExist "
                                             f"matches {len(matches)} resources")
                entry.if_none_exist = None
                if matches:
                    entry.id = matches[0]
                    entry.method = "GET"  # conditional create that found its match: read it
            if entry.id is None:
                entry.id = ops.new_id()
            if entry.full_url and entry.full_url.startswith("urn:uuid:"):
                if entry.full_url in mapping:
                    raise BadRequest(f"Bundle.entry[{entry.index}].fullUrl {entry.full_url} is not unique")
                mapping[entry.full_url] = f"{entry.type}/{entry.id}"
        return mapping

    def _batch(self, bundle: dict, base_url: str, agent: Agent) -> dict:
        out = []
        for entry in _entries(bundle):
            try:
                with self.service.unit(agent, "batch", refs=(f"{entry.type}/{entry.id}",) if entry.id else ()) as (session, note):
                    self._prepare(entry, allow_urn=False)
                    if entry.method == "POST":
                        entry.id = None
                    result = self._run(self.service.interactions(session, base_url), entry, base_url)
                    if result.get("resource", {}).get("resourceType") not in (None, "Bundle"):
                        note.resources.append(result["resource"])
                    out.append(result)
            except FhirError as exc:
                out.append({"response": {"status": f"{exc.status} {HTTPStatus(exc.status).phrase}",
                                         "outcome": exc.outcome()}})
        return {"resourceType": "Bundle", "type": "batch-response", "entry": out}
