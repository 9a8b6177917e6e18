"""Duplicate-patient detection on every Patient write: flag for review, never merge.

May import: gateway.store, gateway.errors, gateway.services.*, stdlib. After a Patient is
created or changed (FHIR create/update, transaction and batch entries, inbound EHR messages),
the Patients sharing a blocking key with it are scored (gateway.services.patient_match); each
pair at or above the review threshold becomes an open review item in the SAME transaction as
the write, so a rolled-back write flags nothing. The write itself never fails because of the
detection: it runs in a savepoint, and an unexpected failure there is logged (ids and the
error class only) and leaves the write to commit. A pair already decided (duplicate,
not_duplicate) is never queued again; an open one is re-scored; a dismissed one comes back
only when a later change scores it higher than when it was dismissed. Patients merged away
(link replaced-by) or already linked to each other are never flagged (patient_match.excluded).
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from gateway.errors import Issue, operation_outcome
from gateway.services.patient_features import MATCH_PARAM, features, probe_keys
from gateway.services.patient_match import Match, Thresholds, excluded, score
from gateway.store.match_candidates import candidates
from gateway.store.match_reviews import ReviewRepository

log = logging.getLogger("gateway.duplicates")
_FLAGS = "gateway.possible_duplicates"  # Session.info key: the flags of this transaction


@dataclass(frozen=True)
class Candidate:
    id: str
    resource: dict
    match: Match


@dataclass(frozen=True)
class Flag:
    """One possible duplicate queued (or re-scored) by a write."""

    patient_id: str
    candidate_id: str
    score: float
    grade: str
    review_id: int


def thresholds(settings) -> Thresholds:
    return Thresholds(settings.match_review_threshold, settings.match_probable_threshold,
                      settings.match_certain_threshold)


def find_matches(session, settings, patient: dict, patient_id: str | None = None) -> list[Candidate]:
    """Stored Patients graded possible or better against `patient`, best first."""
    probe = features(patient)
    if probe.replaced_by:
        return []
    limits = thresholds(settings)
    rows = candidates(session, MATCH_PARAM, probe_keys(patient), settings.match_max_candidates + 1)
    found = []
    for candidate_id, content in rows:
        if candidate_id == patient_id:
            continue
        resource = json.loads(content)
        other = features(resource)
        if excluded(probe, patient_id, other, candidate_id):
            continue
        match = score(probe, other, limits)
        if match.grade != "certainly-not":
            found.append(Candidate(candidate_id, resource, match))
    found.sort(key=lambda c: (-c.match.score, c.id))
    return found


def flag_duplicates(session, settings, interaction: str, resource: dict, now: datetime) -> list[Flag]:
    """Queue the possible duplicates of a Patient just written in `session` (see module doc)."""
    if (resource.get("resourceType") != "Patient" or interaction not in ("create", "update")
            or settings.match_detection != "on"):
        return []
    try:
        with session.begin_nested():
            flags = _flag(session, settings, resource, now)
    except Exception as exc:  # noqa: BLE001 - registration must never fail on detection
        log.error("duplicate detection failed for Patient/%s: %s", resource.get("id"),
                  type(exc).__name__)
        return []
    session.info.setdefault(_FLAGS, []).extend(flags)
    return flags


def watch_duplicates(ops, settings) -> Callable[[str, dict], object]:
    """`ops.after_write` followed by duplicate detection on the same session; what the first
    returns (the delivery's state) is returned unchanged."""
    before = ops.after_write

    def after_write(interaction: str, resource: dict) -> object:
        answer = before(interaction, resource)
        flag_duplicates(ops.session, settings, interaction, resource, ops.now)
        return answer
    return after_write


def _flag(session, settings, resource: dict, now: datetime) -> list[Flag]:
    patient_id = resource["id"]
    reviews = ReviewRepository(session)
    flags = []
    # the best pairs only: a record entered again and again (or a test storm) must not queue
    # and lock one pair per look-alike; the next write of it re-scores the open ones
    for candidate in find_matches(session, settings, resource, patient_id)[:settings.match_max_reviews]:
        review_id = _queue(reviews, patient_id, candidate, now)
        if review_id is not None:
            flags.append(Flag(patient_id, candidate.id, candidate.match.score,
                              candidate.match.grade, review_id))
    return flags


def _queue(reviews: ReviewRepository, patient_id: str, candidate: Candidate, now: datetime) -> int | None:
    reviews.lock_pair(patient_id, candidate.id)
    existing = reviews.for_pair(patient_id, candidate.id)
    if any(r.status in ("duplicate", "not_duplicate") for r in existing):
        return None
    match = candidate.match
    reasons = json.dumps(match.reasons(), separators=(",", ":"))
    still_open = next((r for r in existing if r.status == "open"), None)
    if still_open is not None:
        reviews.rescore(still_open.id, match.score, match.grade, reasons, now)
        return still_open.id
    dismissed = [r.score for r in existing if r.status == "dismissed"]
    if dismissed and match.score <= max(dismissed):
        return None
    return reviews.add(patient_id, candidate.id, match.score, match.grade, reasons, now)


def flags_of(session, stored) -> tuple[Flag, ...]:
    """The flags this transaction raised for a stored resource (a Patient, or none)."""
    if stored.resource_type != "Patient":
        return ()
    return tuple(f for f in session.info.get(_FLAGS, ()) if f.patient_id == stored.id)


def with_flags(result, session):
    """A WriteResult carrying the possible duplicates its write queued."""
    flags = flags_of(session, result.stored)
    return dataclasses.replace(result, duplicates=flags) if flags else result


def warning_issues(flags, *, disclose: bool = True) -> list[Issue]:
    """OperationOutcome warnings for a write's response; without `disclose` (a caller confined
    to one patient) the other record is not named."""
    return [Issue("warning", "duplicate",
                  f"possible duplicate of Patient/{f.candidate_id} (score {f.score:.2f}, {f.grade}), "
                  "queued for review" if disclose else
                  "possible duplicate of another patient record, queued for review")
            for f in flags]


def outcome_of(flags) -> dict | None:
    if not flags:
        return None
    return operation_outcome(warning_issues(flags))
