"""Candidate Patients for the duplicate matcher, found through the blocking-key index rows.

May import: sqlalchemy, stdlib. The keys are idx_token rows (param
'_match', see gateway.services.patient_features) kept with the search index of each Patient's
current version. One statement per probe returns the Patients sharing the most keys with it,
at most `limit` of them, with their current JSON. Each key is its own equality lookup on
ix_token_lookup (resource_type, param, code), joined by UNION ALL: with an IN list PostgreSQL
without fresh statistics (a bulk import before autoanalyze) filtered the whole '_match' range
row by row (37 ms at 10,000 Patients instead of 0.3 ms); an equality is always an index
condition. Deleted Patients have no index rows, so they are never candidates.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.orm import Session


PER_KEY = 200  # rows one blocking key may contribute to a probe


@lru_cache(maxsize=64)
def _statement(keys: int):
    """The lookup for `keys` keys, built once per key count (textual: building a Core union
    per probe cost more than the query itself). Each key contributes at most PER_KEY rows: a
    key shared by thousands (a birth date in a large practice, a family phone) would otherwise
    make every write count all of them (the other keys, names and identifiers, are the selective
    ones)."""
    lookups = " UNION ALL ".join(
        f"SELECT resource_pk FROM (SELECT resource_pk FROM idx_token WHERE resource_type = 'Patient'"
        f" AND param = :param AND code = :k{i} LIMIT {PER_KEY}) k{i}"
        for i in range(keys))
    return text(
        f"SELECT r.id, r.content FROM resources r JOIN ("
        f" SELECT hit.resource_pk, COUNT(*) AS hits FROM ({lookups}) hit"
        f" GROUP BY hit.resource_pk ORDER BY hits DESC, hit.resource_pk LIMIT :limit) ranked"
        f" ON ranked.resource_pk = r.pk WHERE r.deleted = :deleted ORDER BY ranked.hits DESC, r.pk")


def candidates(session: Session, param: str, keys: list[str], limit: int) -> list[tuple[str, str]]:
    """(id, content) of live Patients sharing at least one blocking key with the probe, the
    best-blocked first (then by pk, so the answer is deterministic)."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return []
    values = {f"k{i}": key for i, key in enumerate(unique)}
    rows = session.execute(_statement(len(unique)),
                           {"param": param, "limit": limit, "deleted": False, **values})
    return [(row[0], row[1]) for row in rows if row[1] is not None]
