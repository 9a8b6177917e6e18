"""Patient $match (FHIR R4 patient-operation-match.html): the stored Patients resembling one.

May import: gateway.errors, gateway.services.*, stdlib. In: a Parameters resource with
`resource` (a Patient, validated like a create body; it is not stored), optional
`onlyCertainMatches` (valueBoolean) and `count` (valueInteger). Out: a searchset Bundle of
the candidates graded possible or better by the same matcher that feeds the review queue,
best first, each with `search.score` and the match-grade extension. Per the operation's
definition, with onlyCertainMatches only certain matches come back, and none when more than
one is certain (an OperationOutcome entry says why): an application must not pick one of
several people. Audited as a search: every Patient answered is an entity of the AuditEvent.
"""
from __future__ import annotations

from gateway.errors import BadRequest
from gateway.services.audit import Agent
from gateway.services.canonical import instant
from gateway.services.duplicates import find_matches
from gateway.services.patient_match import GRADE_URL
from gateway.services.validation import validate_resource

_PARAMS = {"resource", "onlyCertainMatches", "count"}


def _single(parameters: dict, name: str) -> dict | None:
    found = [p for p in parameters.get("parameter") or [] if isinstance(p, dict) and p.get("name") == name]
    if len(found) > 1:
        raise BadRequest(f"$match takes at most one parameter {name!r}",
                         expression=(f"Parameters.parameter.where(name='{name}')",))
    return found[0] if found else None


def parse(parameters: object, max_count: int) -> tuple[dict, bool, int | None]:
    """(patient, onlyCertainMatches, count) from the input Parameters; 400 when malformed."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise BadRequest("the $match body must be a Parameters resource", expression=("Parameters",))
    if not isinstance(parameters.get("parameter", []), list):
        raise BadRequest("Parameters.parameter must be an array", expression=("Parameters.parameter",))
    unknown = {str(p.get("name")) for p in parameters.get("parameter") or [] if isinstance(p, dict)} - _PARAMS
    if unknown:
        raise BadRequest(f"$match has no parameter {sorted(unknown)[0]!r} (resource, "
                         "onlyCertainMatches, count)", expression=("Parameters.parameter.name",))
    given = _single(parameters, "resource")
    if given is None or not isinstance(given.get("resource"), dict):
        raise BadRequest("$match needs a parameter 'resource' holding the Patient to match",
                         expression=("Parameters.parameter.where(name='resource')",))
    patient = validate_resource(given["resource"], "Patient")
    only = _single(parameters, "onlyCertainMatches")
    if only is not None and not isinstance(only.get("valueBoolean"), bool):
        raise BadRequest("onlyCertainMatches must be a valueBoolean")
    count = _single(parameters, "count")
    if count is not None:
        value = count.get("valueInteger")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadRequest("count must be a positive valueInteger")
    return (patient, bool(only and only["valueBoolean"]),
            None if count is None else min(count["valueInteger"], max_count))


def _entry(candidate, base_url: str) -> dict:
    return {"fullUrl": f"{base_url}/Patient/{candidate.id}", "resource": candidate.resource,
            "search": {"extension": [{"url": GRADE_URL, "valueCode": candidate.match.grade}],
                       "mode": "match", "score": candidate.match.score}}


def _ambiguous(number: int) -> dict:
    return {"resource": {"resourceType": "OperationOutcome", "issue": [{
        "severity": "information", "code": "multiple-matches",
        "diagnostics": f"{number} stored Patients are certain matches; with onlyCertainMatches "
                       "none is returned (patient-operation-match.html)"}]},
        "search": {"mode": "outcome"}}


def match_patients(service, parameters: object, *, base_url: str, agent: Agent = Agent()) -> dict:
    """Run Patient/$match over the gateway's store (the mirror of the owning EHR)."""
    with service.read_unit(agent, "search-type", query="Patient/$match") as (session, note):
        patient, only_certain, count = parse(parameters, service.settings.max_page_size)
        found = find_matches(session, service.settings, patient)
        extra = []
        if only_certain:
            found = [c for c in found if c.match.grade == "certain"]
            if len(found) > 1:
                found, extra = [], [_ambiguous(len(found))]
        found = found[:count or service.settings.default_page_size]
        note.resources.extend({"resourceType": "Patient", "id": c.id} for c in found)
        bundle = {"resourceType": "Bundle", "type": "searchset", "timestamp": instant(service.clock()),
                  "total": len(found), "link": [{"relation": "self", "url": f"{base_url}/Patient/$match"}]}
        entries = [_entry(c, base_url) for c in found] + extra
        if entries:  # FHIR arrays are never empty
            bundle["entry"] = entries
        return bundle
