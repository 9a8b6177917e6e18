"""Candidate Patients for the duplicate matcher, found through the blocking-key index rows.

May import: sqlalchemy, stdlib. The keys are idx_token rows (param '_match', see
gateway.services.patient_features) kept with the search index of each Patient's current
version; one indexed lookup (ix_token_lookup: resource_type, param, code) per probe returns
the Patients sharing the most keys with it, at most `limit` of them, with their current JSON.
Deleted Patients have no index rows, so they are never candidates.
"""
from __future__ import annotations

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

# The block is ranked by how many keys a Patient shares with the probe (then by pk, so the
# answer is deterministic): with a common name the best-blocked candidates come first.
_CANDIDATES = text(
    "SELECT r.id, r.content FROM resources r JOIN ("
    " SELECT t.resource_pk, COUNT(*) AS hits FROM idx_token t"
    " WHERE t.resource_type = 'Patient' AND t.param = :param AND t.code IN :keys"
    " GROUP BY t.resource_pk ORDER BY hits DESC, t.resource_pk LIMIT :limit) c"
    " ON c.resource_pk = r.pk"
    " WHERE r.deleted = :deleted ORDER BY c.hits DESC, r.pk"
).bindparams(bindparam("keys", expanding=True))


def candidates(session: Session, param: str, keys: list[str], limit: int) -> list[tuple[str, str]]:
    """(id, content) of live Patients sharing at least one blocking key with the probe."""
    if not keys:
        return []
    rows = session.execute(_CANDIDATES, {"param": param, "keys": list(keys), "limit": limit,
                                         "deleted": False})
    return [(row[0], row[1]) for row in rows if row[1] is not None]
