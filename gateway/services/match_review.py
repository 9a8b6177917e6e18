"""The duplicate-patient review queue staff work through: list, show, resolve.

May import: gateway.store, gateway.errors, gateway.services.*, stdlib. Items are raised by
gateway.services.duplicates. Each item shows both Patients' summary (name, birth date, MRN):
PHI, so every call is audited like a FHIR read or search (both Patients are entities of its
AuditEvent). A decision is final: `duplicate` merges the pair through the Patient $merge
service (the survivor links `replaces`, the other is retired with `replaced-by`, the owning
HL7 v2 EHR receives ADT^A40) in the same transaction and AuditEvent as the decision, so a
refused merge leaves the item open; `not_duplicate` keeps the pair from ever being flagged
again; `dismissed` closes it without a decision. Resolving a resolved item is a 409.
"""
from __future__ import annotations

import json
from typing import Mapping

from gateway.errors import BadRequest, Conflict, NotFound, Unprocessable
from gateway.services.audit import Agent
from gateway.services.canonical import instant
from gateway.services.merge import merge_in
from gateway.store.match_reviews import STATUSES, Review, ReviewRepository
from gateway.store.resources import ResourceRepository

DECISIONS = ("duplicate", "not_duplicate", "dismissed")
_MAX_NOTE = 2000


def _mrn(patient: dict) -> dict | None:
    """The medical record number: the identifier typed MR, else the usual/official one, else
    the first (R4 v2-0203 MR)."""
    identifiers = [i for i in patient.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
    typed = [i for i in identifiers if any(c.get("code") == "MR" for c in (i.get("type") or {}).get("coding", []))]
    usual = [i for i in identifiers if i.get("use") in ("usual", "official")]
    chosen = (typed or usual or identifiers or [None])[0]
    return None if chosen is None else {"system": chosen.get("system"), "value": chosen["value"]}


def _name(patient: dict) -> str | None:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if name is None:
        return None
    if name.get("text"):
        return name["text"]
    return ", ".join(p for p in (name.get("family"), " ".join(name.get("given") or [])) if p) or None


def summary(patient_id: str, patient: dict | None) -> dict:
    if patient is None:
        return {"reference": f"Patient/{patient_id}", "deleted": True}
    merged = [link["other"].get("reference") for link in patient.get("link") or []
              if link.get("type") == "replaced-by"]
    return {"reference": f"Patient/{patient_id}", "name": _name(patient),
            "birthDate": patient.get("birthDate"), "gender": patient.get("gender"),
            "mrn": _mrn(patient), "active": patient.get("active", True),
            "replacedBy": merged[0] if merged else None}


def _decision(body: object) -> tuple[str, str | None, str | None]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with a decision")
    unknown = set(body) - {"decision", "survivor", "note"}
    if unknown:
        raise BadRequest(f"unknown field {sorted(unknown)[0]!r} (decision, survivor, note)")
    decision, survivor, note = body.get("decision"), body.get("survivor"), body.get("note")
    if decision not in DECISIONS:
        raise BadRequest(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if note is not None and (not isinstance(note, str) or len(note) > _MAX_NOTE):
        raise BadRequest(f"note must be a string of at most {_MAX_NOTE} characters")
    if decision == "duplicate":
        if not isinstance(survivor, str) or not survivor.startswith("Patient/"):
            raise BadRequest("a duplicate decision needs survivor: \"Patient/<id>\" (the record kept)")
        return decision, survivor.split("/", 1)[1], note
    if survivor is not None:
        raise BadRequest("survivor is only given with decision duplicate")
    return decision, None, note


class ReviewQueue:
    """The review items over the FHIR service's database, audit and merge."""

    def __init__(self, service, can_merge: bool) -> None:
        self.service = service  # FhirService: db, clock, settings, unit(), read_unit()
        self.can_merge = can_merge  # the CapabilityStatement offers Patient $merge

    def _item(self, session, reviews: list[Review], note) -> list[dict]:
        ids = sorted({i for r in reviews for i in (r.patient_id, r.candidate_id)})
        found = {s.id: json.loads(s.content) for s in ResourceRepository(session).current_many("Patient", ids)}
        note.resources.extend({"resourceType": "Patient", "id": i} for i in ids)
        return [{"id": r.id, "status": r.status, "score": r.score, "grade": r.grade,
                 "reasons": json.loads(r.reasons), "created": instant(r.created),
                 "updated": instant(r.updated),
                 "patient": summary(r.patient_id, found.get(r.patient_id)),
                 "candidate": summary(r.candidate_id, found.get(r.candidate_id)),
                 "resolvedBy": r.resolved_by,
                 "resolvedAt": instant(r.resolved_at) if r.resolved_at else None,
                 "note": r.note} for r in reviews]

    def list(self, params: Mapping[str, str], agent: Agent = Agent()) -> dict:
        """Newest first; `status` (default open, or `all`), `count`, `before` (an item id)."""
        unknown = set(params) - {"status", "count", "before"}
        if unknown:
            raise BadRequest(f"unknown parameter {sorted(unknown)[0]!r} (status, count, before)")
        status = params.get("status", "open")
        if status not in STATUSES + ("all",):
            raise BadRequest(f"status must be one of {', '.join(STATUSES)} or all, got {status!r}")
        count = _positive(params, "count", self.service.settings.default_page_size)
        count = min(count, self.service.settings.max_page_size)
        before = _positive(params, "before", None)
        query = f"admin/review?status={status}&count={count}" + (f"&before={before}" if before else "")
        with self.service.read_unit(agent, "search-type", query=query) as (session, note):
            reviews, total = ReviewRepository(session).page(None if status == "all" else status, count, before)
            out = {"status": status, "total": total, "items": self._item(session, reviews, note)}
        if len(reviews) == count:
            out["next"] = f"?status={status}&count={count}&before={reviews[-1].id}"
        return out

    def show(self, review_id: int, agent: Agent = Agent()) -> dict:
        with self.service.read_unit(agent, "read", query=f"admin/review/{review_id}") as (session, note):
            review = ReviewRepository(session).get(review_id)
            if review is None:
                raise NotFound(f"review item {review_id} is not known")
            return self._item(session, [review], note)[0]

    def resolve(self, review_id: int, body: object, agent: Agent = Agent(), *, base_url: str = "") -> dict:
        decision, survivor, text = _decision(body)
        query = f"admin/review/{review_id}/resolve?decision={decision}"
        with self.service.unit(agent, "operation", query=query) as (session, note):
            reviews = ReviewRepository(session)
            review = reviews.get(review_id)
            if review is None:
                raise NotFound(f"review item {review_id} is not known")
            if review.status != "open":
                raise Conflict(f"review item {review_id} was already resolved ({review.status}); "
                               "a decision is final")
            if decision == "duplicate":
                self._merge(session, note, review, survivor, base_url)
            if not reviews.resolve(review_id, decision, agent.name, self.service.clock(), text):
                raise Conflict(f"review item {review_id} was resolved by someone else meanwhile")
            return self._item(session, [reviews.get(review_id)], note)[0]

    def _merge(self, session, note, review: Review, survivor: str, base_url: str) -> None:
        pair = (review.patient_id, review.candidate_id)
        if survivor not in pair:
            raise BadRequest(f"survivor must be Patient/{pair[0]} or Patient/{pair[1]}")
        if not self.can_merge:
            raise Unprocessable("the backend owning Patient cannot carry a merge: merge the records "
                                "in the EHR (its ADT^A40 is applied here) and dismiss this item")
        source = pair[1] if survivor == pair[0] else pair[0]
        merge_in(self.service, session, note, source, survivor, base_url)


def _positive(params: Mapping[str, str], name: str, default):
    raw = params.get(name)
    if raw is None:
        return default
    if not str(raw).isdigit() or int(raw) < 1:
        raise BadRequest(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)
