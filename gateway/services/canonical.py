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
    # formatted by hand: strftime took 3x as long, and this runs on every request (audit)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
            f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(moment: datetime) -> str:
    """RFC 7231 7.1.1.1 IMF-fixdate for Last-Modified, e.g. Tue, 24 Nov 2026 06:00:00 GMT.

    The day and month names are the fixed English ones the RFC requires (strftime's %a/%b
    follow the process locale)."""
    return (f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
            f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT")


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


class StoredJSON(dict):
    """A resource parsed from its stored canonical JSON that keeps that text, so that a Bundle
    carrying it is serialized by copying the text instead of encoding the dict again (to_json).
    The dict must not be changed afterwards (search results are only read: audit, response)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__(json.loads(text))
        self.text = text


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_SLOT = "\x00stored\x00"  # NUL cannot occur in FHIR strings (and a clash is detected below)
_SLOT_JSON = _ENCODE(_SLOT)


def to_json(body) -> str:
    """Compact canonical JSON of `body`; the StoredJSON resources of a Bundle's entries are
    copied as stored (byte-identical to encoding them: the stored text came from dumps)."""
    entries = body.get("entry") if isinstance(body, dict) else None
    if not entries:
        return _ENCODE(body)
    texts: list[str] = []

    def slot(entry: dict) -> dict:
        resource = entry.get("resource")
        if not isinstance(resource, StoredJSON):
            return entry
        texts.append(resource.text)
        return dict(entry, resource=_SLOT)
    skeleton = dict(body, entry=[slot(entry) for entry in entries])
    if not texts:
        return _ENCODE(body)
    pieces = _ENCODE(skeleton).split(_SLOT_JSON)
    if len(pieces) != len(texts) + 1:  # the slot text occurred in the data itself
        return _ENCODE(body)
    return "".join(piece + text for piece, text in zip(pieces, texts)) + pieces[-1]
