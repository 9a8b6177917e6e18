"""Coverage eligibility checks: a CoverageEligibilityRequest is asked of the backend that owns
Coverage at once, and the request and the CoverageEligibilityResponse read from the answer are
stored together.

May import: gateway.delivery, gateway.errors, gateway.resources, gateway.store,
gateway.services.*, stdlib. Three steps, so that no database transaction (and no SQLite
writer lock) is held while the EHR thinks:
1. check (a read session): valid FHIR (400); an active request; its patient and its one
   Coverage exist, and the Coverage's beneficiary is that patient (422); If-None-Exist already
   matched -> that check is answered again without asking (200);
2. ask (no transaction): an unreachable, throttled or failing EHR is 503 + Retry-After and
   nothing is stored (an eligibility check is a live question, not a queued write); an EHR that
   refuses the call is 422, nothing stored; an EHR whose refusal IS the answer (an unknown
   member) gives an outcome `error` response, stored like any answer;
3. store (one write transaction): the request, the response (its `request` naming the request)
   and the AuditEvent of both, all or nothing.
A failed check is audited (FhirService._audit_failures), as every call touching PHI is.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timezone

from gateway.delivery import ELIGIBILITY_ASKS, DeliveryRefused, DeliveryUnavailable
from gateway.errors import (Conflict, FhirError, MethodNotAllowed, PreconditionFailed,
                            ServiceUnavailable, Unprocessable)
from gateway.services.audit import Agent
from gateway.services.interactions import Interactions, WriteResult
from gateway.services.search import run_search
from gateway.services.validation import validate_resource
from gateway.store.backend_ids import BackendIdRepository
from gateway.store.resources import ResourceRepository

REQUEST, RESPONSE = "CoverageEligibilityRequest", "CoverageEligibilityResponse"


@dataclass(frozen=True)
class Question:
    """A checked request (with the id it will be stored under) and what the EHR needs of it."""

    request: dict
    backend: str
    backend_ids: dict
    related: dict


def _target(reference: object, rtype: str, where: str) -> str:
    """The id of a literal reference to a `rtype` on this server (`Type/id` or a URL ending so)."""
    text = reference.get("reference", "") if isinstance(reference, dict) else ""
    parts = text.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != rtype or text.startswith(("#", "urn:")):
        raise Unprocessable(f"{where} must be a literal reference to a {rtype} on this server",
                            expression=(where,))
    return parts[-1]


def _live(repo: ResourceRepository, rtype: str, rid: str, where: str) -> dict:
    stored = repo.current(rtype, rid)
    if stored is None or stored.deleted:
        raise Unprocessable(f"Reference {rtype}/{rid} points at a resource that does not exist",
                            expression=(where,))
    return json.loads(stored.content)


def _question(session, request: dict, backend: str) -> Question:
    """The request's patient and Coverage, checked against each other (422 when they do not fit)."""
    if request["status"] != "active":  # fm-status: only an active request is to be acted on
        raise Unprocessable(f"only an active {REQUEST} is asked (status is {request['status']!r})",
                            expression=(f"{REQUEST}.status",))
    repo = ResourceRepository(session)
    pid = _target(request["patient"], "Patient", f"{REQUEST}.patient")
    patient = _live(repo, "Patient", pid, f"{REQUEST}.patient")
    insurance = request.get("insurance") or []
    if len(insurance) != 1:
        raise Unprocessable(f"an eligibility check asks about exactly one Coverage: "
                            f"{REQUEST}.insurance has {len(insurance)} entries",
                            expression=(f"{REQUEST}.insurance",))
    where = f"{REQUEST}.insurance[0].coverage"
    cid = _target(insurance[0]["coverage"], "Coverage", where)
    coverage = _live(repo, "Coverage", cid, where)
    beneficiary = coverage.get("beneficiary")
    if _target_or_none(beneficiary, "Patient") != pid:
        raise Unprocessable(f"Coverage/{cid} is not the coverage of Patient/{pid}: its beneficiary "
                            f"is {(beneficiary or {}).get('reference', 'not a Patient here')}",
                            expression=(where, f"{REQUEST}.patient"))
    pairs = {("Patient", pid), ("Coverage", cid)}
    ids = BackendIdRepository(session).lookup(backend, pairs)
    # its id now: the answer names the request it answers (CoverageEligibilityResponse.request)
    return Question(dict(request, id=str(uuid.uuid4())), backend, ids,
                    {("Patient", pid): patient, ("Coverage", cid): coverage})


def _target_or_none(reference: object, rtype: str) -> str | None:
    try:
        return _target(reference, rtype, "")
    except Unprocessable:
        return None


def _ask(service, question: Question):
    now = service.clock().replace(tzinfo=timezone.utc)
    try:
        answer = service.delivery.eligibility(question.request, question.backend_ids,
                                              question.related, now)
    except DeliveryRefused as exc:
        raise Unprocessable(f"Backend {exc.backend} refused the eligibility check: {exc.reason}; "
                            "nothing was stored") from None
    except DeliveryUnavailable as exc:
        raise ServiceUnavailable(
            f"Backend {exc.backend} cannot answer the eligibility check now: {exc.reason}; "
            "nothing was stored, ask again later", headers={"Retry-After": str(exc.retry_after)}) from None
    if answer is None:
        raise MethodNotAllowed(f"the backend owning {ELIGIBILITY_ASKS} cannot answer eligibility checks")
    # What the profile made of the EHR's answer must be valid FHIR before it is kept (400 here
    # would blame the client: an answer that does not fit is the EHR's, so it is a 503).
    try:
        validate_resource(json.loads(json.dumps(answer.response)), RESPONSE)
    except FhirError as exc:
        raise ServiceUnavailable(f"Backend {answer.backend}'s eligibility answer does not make a valid "
                                 f"{RESPONSE} with {answer.profile}: {exc}; nothing was stored",
                                 headers={"Retry-After": "30"}) from None
    return answer


def _sourced(answer) -> dict:
    """The answer with meta.source naming the backend and the profile version that read it (R4
    resource.html#Meta: "where the resource comes from"), so a stored answer can be traced and
    its translation reproduced."""
    meta = {"source": f"urn:fhir-gateway:backend:{answer.backend}#{answer.profile}"}
    return {"resourceType": answer.response["resourceType"], "meta": meta} | answer.response


def _answered(ops: Interactions, request_id: str) -> WriteResult:
    """A check already stored (If-None-Exist matched): the request and its answer, unchanged."""
    found = run_search(ops.session, RESPONSE, [("request", f"{REQUEST}/{request_id}"), ("_count", "1"),
                                               ("_sort", "-created")], base_url=ops.base_url)
    entry = next((e for e in found.get("entry", []) if e.get("search", {}).get("mode") == "match"), None)
    related = ops.read(RESPONSE, entry["resource"]["id"]) if entry else None
    return WriteResult(ops.read(REQUEST, request_id), False, related=related)


def _matched(ops: Interactions, criteria: str | None) -> str | None:
    if not criteria:
        return None
    matches = ops.match(REQUEST, criteria)
    if len(matches) > 1:
        raise PreconditionFailed(f"If-None-Exist criteria match {len(matches)} {REQUEST} resources")
    return matches[0] if matches else None


def submit_check(service, body: object, *, base_url: str, if_none_exist: str | None,
                 agent: Agent) -> WriteResult:
    """Create a CoverageEligibilityRequest: ask, then store it with its answer (`related`)."""
    question = answer = None
    with service._audit_failures(agent, "create", (), if_none_exist):
        service.check(REQUEST, "create")
        request = validate_resource(body, REQUEST)
        with service.db.read() as session:
            already = _matched(Interactions(session, service.clock(), base_url), if_none_exist)
            if not already:
                question = _question(session, request, service.delivery.owner(ELIGIBILITY_ASKS))
        if question is not None:
            answer = _ask(service, question)
    with service.unit(agent, "create", query=if_none_exist) as (session, note):
        ops = Interactions(session, service.clock(), base_url)  # stored here, never pushed
        if if_none_exist:
            ops.lock_criteria(REQUEST, if_none_exist)
            already = _matched(ops, if_none_exist)  # a twin may have stored it meanwhile
        if already:
            result = _answered(ops, already)
            note.status = 200
        elif question is None:  # matched at first, gone now: only a concurrent change does that
            raise Conflict(f"the {REQUEST} matching If-None-Exist changed meanwhile; retry")
        else:
            stored = ops.create(question.request, question.request["id"]).stored
            response = ops.create(_sourced(answer)).stored
            result = WriteResult(stored, True, related=response)
            note.status = 201
        note.resources += [json.loads(r.content) for r in (result.stored, result.related) if r is not None]
        return result
