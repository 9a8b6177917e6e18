"""ReviewRepository: the possible-duplicate review items (patient_match_reviews rows).

May import: sqlalchemy, stdlib, gateway.store.models. Runs in the caller's session (the
write that raised a flag, or the staff decision, with its AuditEvent). A decision is taken by
one conditional UPDATE (WHERE status = 'open'), so two reviewers can never both resolve the
same item; on PostgreSQL the pair is locked (advisory, for the transaction) before it is
looked at, so two concurrent writes never queue the same pair twice (SQLite has one writer).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from gateway.store.models import PatientMatchReviewRow

STATUSES = ("open", "duplicate", "not_duplicate", "dismissed")


@dataclass(frozen=True)
class Review:
    id: int
    patient_id: str
    candidate_id: str
    score: float
    grade: str
    reasons: str  # JSON
    status: str
    created: datetime
    updated: datetime
    resolved_by: str | None
    resolved_at: datetime | None
    note: str | None


def _review(row: PatientMatchReviewRow) -> Review:
    return Review(row.pk, row.patient_id, row.candidate_id, row.score, row.grade, row.reasons,
                  row.status, row.created, row.updated, row.resolved_by, row.resolved_at, row.note)


class ReviewRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_pair(self, a: str, b: str) -> None:
        if self.session.get_bind().dialect.name == "postgresql":
            low, high = sorted((a, b))
            self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                                 {"k": f"patient-match:{low}:{high}"})

    def for_pair(self, a: str, b: str) -> list[Review]:
        low, high = sorted((a, b))
        rows = self.session.execute(select(PatientMatchReviewRow).where(
            PatientMatchReviewRow.pair_low == low, PatientMatchReviewRow.pair_high == high)
            .order_by(PatientMatchReviewRow.pk)).scalars()
        return [_review(r) for r in rows]

    def add(self, patient_id: str, candidate_id: str, score: float, grade: str, reasons: str,
            now: datetime) -> int:
        low, high = sorted((patient_id, candidate_id))
        row = PatientMatchReviewRow(patient_id=patient_id, candidate_id=candidate_id, pair_low=low,
                                    pair_high=high, score=score, grade=grade, reasons=reasons,
                                    status="open", created=now, updated=now)
        self.session.add(row)
        self.session.flush()
        return row.pk

    def rescore(self, review_id: int, score: float, grade: str, reasons: str, now: datetime) -> None:
        self.session.execute(update(PatientMatchReviewRow).where(
            PatientMatchReviewRow.pk == review_id, PatientMatchReviewRow.status == "open")
            .values(score=score, grade=grade, reasons=reasons, updated=now))

    def get(self, review_id: int) -> Review | None:
        row = self.session.get(PatientMatchReviewRow, review_id)
        return None if row is None else _review(row)

    def page(self, status: str | None, count: int, before: int | None) -> tuple[list[Review], int]:
        """Newest first, `count` at most, below the cursor `before` (a review id); and the
        total with that status."""
        conditions = [] if status is None else [PatientMatchReviewRow.status == status]
        total = self.session.execute(select(func.count()).select_from(PatientMatchReviewRow)
                                     .where(*conditions)).scalar_one()
        if before is not None:
            conditions.append(PatientMatchReviewRow.pk < before)
        rows = self.session.execute(select(PatientMatchReviewRow).where(*conditions)
                                    .order_by(PatientMatchReviewRow.pk.desc()).limit(count)).scalars()
        return [_review(r) for r in rows], total

    def resolve(self, review_id: int, status: str, by: str, at: datetime, note: str | None) -> bool:
        """Record the decision if the item is still open; False when someone resolved it first."""
        result = self.session.execute(update(PatientMatchReviewRow).where(
            PatientMatchReviewRow.pk == review_id, PatientMatchReviewRow.status == "open")
            .values(status=status, resolved_by=by[:255], resolved_at=at, note=note))
        return result.rowcount == 1

    def count_open(self) -> int:
        return self.session.execute(select(func.count()).select_from(PatientMatchReviewRow)
                                    .where(PatientMatchReviewRow.status == "open")).scalar_one()
