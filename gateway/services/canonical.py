"""Canonical stored form of a resource: id and meta set by the server, compact JSON text.

May import: stdlib only. Reads serve this text as-is (no parse, no re-validation), which keeps
the read path close to a bare endpoint.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone


def utc_now() -> datetime:
    """Naive UTC now truncated to milliseconds (the precision of meta.lastUpdated)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def instant(moment: datetime) -> str:
    """FHIR instant text for a naive UTC datetime, e.g. 2026-11-24T06:00:00.123Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_date(moment: datetime) -> str:
    """RFC 7231 IMF-fixdate for Last-Modified."""
    return moment.replace(tzinfo=timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


def stamp(resource: dict, resource_id: str, version_id: int, last_updated: datetime) -> dict:
    """A copy of `resource` with the server-owned id and meta.versionId/lastUpdated set.

    Client-sent meta.versionId/lastUpdated are replaced (FHIR R4 http.html#update: the server
    owns them); tags, security labels and profiles the client sent are kept.
    """
    out = {"resourceType": resource["resourceType"], "id": resource_id}
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = instant(last_updated)
    out["meta"] = meta
    for key, value in resource.items():
        if key not in ("resourceType", "id", "meta"):
            out[key] = value
    return out


def dumps(resource: dict) -> str:
    return json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
