"""Subscription matching on the write path: which active Subscriptions a committed write owes a
notification, enqueued in the write's own transaction.

May import: gateway.store, gateway.services.search, gateway.services.subscriptions,
gateway.services.canonical, stdlib. Matching is FHIR search itself: a Subscription's criteria
plus `_id=<id>` run through run_search on the write's session, which sees the write, so
"matches" means exactly what a search would answer (no second matcher). A delete is matched
against the resource as it was (HAPI does the same): inside a savepoint the last version is put
back for the length of the searches, then undone. A rolled-back write rolls its notification
rows back with it. The active Subscriptions are cached per process and reloaded only when the
registry counter (bumped by every Subscription write) moved: one primary-key read per write.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from gateway.services.canonical import dumps
from gateway.services.search import extract_index, run_search
from gateway.services.search.values import date_range
from gateway.services.subscriptions import criteria_parts
from gateway.store.notifications import NotificationRepository
from gateway.store.resources import ResourceRepository

WATCHED_STATUSES = ("active", "error")  # error: still tried, so a success can clear it
_CHANGED = "gateway.subscriptions_changed"  # Session.info key: this transaction wrote one


@dataclass(frozen=True)
class Watching:
    """One active Subscription as matching needs it."""

    id: str
    criteria: str
    params: tuple[tuple[str, str], ...]
    end: datetime | None  # R4 Subscription.end (naive UTC): no notifications after it


def _watching(subscription_id: str, content: str) -> tuple[str, Watching] | None:
    body = json.loads(content)
    if body.get("status") not in WATCHED_STATUSES or not isinstance(body.get("criteria"), str):
        return None
    rtype, params = criteria_parts(body["criteria"])
    end = date_range(body["end"]) if isinstance(body.get("end"), str) else None
    return rtype, Watching(subscription_id, body["criteria"], tuple(params), end[0] if end else None)


class Notifications:
    """The per-process cache of active Subscriptions and the enqueue hook (one per FhirService)."""

    def __init__(self, base_url: str = "") -> None:
        self.base_url = base_url
        self._lock = threading.Lock()
        self._version: int | None = None
        self._by_type: dict[str, tuple[Watching, ...]] = {}

    def hooked(self, first: Callable[[str, dict], object], session, now: datetime) -> Callable[[str, dict], object]:
        """An Interactions.after_write that runs `first` (the backend push) then enqueues; it
        answers what `first` answered (the write's DeliveryState, for the response)."""
        def after_write(interaction: str, resource: dict) -> object:
            delivered = first(interaction, resource)
            self.enqueue_matches(session, interaction, resource, now)
            return delivered
        return after_write

    def active(self, session, resource_type: str) -> tuple[Watching, ...]:
        repo = NotificationRepository(session)
        if session.info.get(_CHANGED):  # this transaction wrote a Subscription: what it sees
            return self._load(repo).get(resource_type, ())  # may roll back, never cache it
        version = repo.registry_version()
        with self._lock:
            if version != self._version:
                self._by_type, self._version = self._load(repo), version
            return self._by_type.get(resource_type, ())

    @staticmethod
    def _load(repo: NotificationRepository) -> dict[str, tuple[Watching, ...]]:
        by_type: dict[str, list[Watching]] = {}
        for sid, content in repo.live_subscriptions():
            found = _watching(sid, content)
            if found:
                by_type.setdefault(found[0], []).append(found[1])
        return {t: tuple(w) for t, w in by_type.items()}

    def enqueue_matches(self, session, interaction: str, resource: dict, now: datetime) -> int:
        """Enqueue one notification per active Subscription the write matches; returns how many."""
        rtype, rid = resource["resourceType"], resource["id"]
        repo = NotificationRepository(session)
        if rtype == "Subscription":
            repo.bump_registry()  # every process reloads its list before its next match
            session.info[_CHANGED] = True
            if interaction == "delete" or resource.get("status") == "off":
                repo.cancel_pending(rid, now)
            return 0
        watching = [w for w in self.active(session, rtype) if w.end is None or w.end > now]
        if not watching:
            return 0
        if interaction == "delete":
            matched, version = self._match_deleted(session, resource, watching, now)
        else:
            matched, version = self._match(session, rtype, rid, watching), int(resource["meta"]["versionId"])
        if matched:
            repo.enqueue([w.id for w in matched], rtype, rid, version, interaction, now)
        return len(matched)

    def _match(self, session, rtype: str, rid: str, watching: list[Watching]) -> list[Watching]:
        results: dict[str, bool] = {}  # one search per distinct criteria
        matched = []
        for w in watching:
            if w.criteria not in results:
                bundle = run_search(session, rtype, list(w.params) + [
                    ("_id", rid), ("_count", "1"), ("_total", "none")],
                    base_url=self.base_url, handling="strict")
                results[w.criteria] = any(e.get("search", {}).get("mode") == "match"
                                          for e in bundle.get("entry", ()))
            if results[w.criteria]:
                matched.append(w)
        return matched

    def _match_deleted(self, session, resource: dict, watching: list[Watching],
                       now: datetime) -> tuple[list[Watching], int]:
        rtype, rid = resource["resourceType"], resource["id"]
        repo = ResourceRepository(session)
        deleted = repo.current(rtype, rid)
        savepoint = session.begin_nested()
        try:
            repo.update(deleted, dumps(resource), extract_index(rtype, resource), now)
            matched = self._match(session, rtype, rid, watching)
        finally:
            savepoint.rollback()
        return matched, deleted.version_id
