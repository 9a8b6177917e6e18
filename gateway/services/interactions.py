"""The FHIR interactions on one session: read, vread, create, update, delete, conditional create.

May import: gateway.store, gateway.errors, gateway.resources, gateway.services.*. A caller owns
the transaction (one per request, or one per whole transaction Bundle); these functions never
commit. Spec: FHIR R4 http.html (sections named per function).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable
from urllib.parse import parse_qsl

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import (BadRequest, Conflict, Gone, NotFound, PreconditionFailed,
                            Unprocessable)
from gateway.resources import resource_types
from gateway.services.canonical import dumps, stamp
from gateway.services.search import extract_index, run_search
from gateway.services.validation import references_in
from gateway.store.resources import ResourceRepository, StoredResource, VersionConflict


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the stored version, whether it created the resource, what became
    of its delivery to the owning backend (None: the local store owns the type), and `related`,
    a resource the write produced besides it (the answer to an eligibility check)."""

    stored: StoredResource
    created: bool
    # possible duplicates the write queued (services.duplicates.Flag); keyword-only, so
    # positional WriteResult(...) calls are not affected by where it sits
    duplicates: tuple = field(default=(), kw_only=True)
    delivery: object | None = None  # gateway.delivery.DeliveryState
    related: StoredResource | None = None


def parse_etag(value: str | None) -> int | None:
    """The version number in an If-Match ETag (W/"3" or "3"); BadRequest if malformed."""
    if value is None:
        return None
    raw = value.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw.strip('"')
    if not raw.isdigit():
        raise BadRequest(f"If-Match must be an ETag like W/\"3\", got {value!r}")
    return int(raw)


def live(stored: StoredResource | None, resource_type: str, resource_id: str) -> StoredResource:
    """404 for an unknown resource, 410 (with the delete's ETag) for a deleted one (R4 #read)."""
    if stored is None:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    if stored.deleted:
        raise Gone(f"{resource_type}/{resource_id} was deleted",
                   headers={"ETag": f'W/"{stored.version_id}"'})
    return stored


class Interactions:
    """FHIR interactions bound to one session, clock and id factory."""

    def __init__(self, session: Session, now: datetime, base_url: str,
                 new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.session = session
        self.repo = ResourceRepository(session)
        self.now = now
        self.base_url = base_url
        self.new_id = new_id
        # A transaction Bundle defers reference checks until all its entries are written,
        # because entries may point at each other in any order.
        self.deferred_refs: list[dict] | None = None
        # Called after each local write, before commit, to push it to the owning backend; what
        # it answers (a DeliveryState, or None for the local store) is kept for the response.
        self.after_write: Callable[[str, dict], object] = lambda _interaction, _resource: None
        self.last_delivery: object | None = None

    # -- reads (R4 http.html#read, #vread) -------------------------------------------------
    def read(self, resource_type: str, resource_id: str) -> StoredResource:
        return live(self.repo.current(resource_type, resource_id), resource_type, resource_id)

    def vread(self, resource_type: str, resource_id: str, version: str) -> StoredResource:
        if not version.isdigit():
            raise NotFound(f"{resource_type}/{resource_id} has no version {version!r}")
        stored = self.repo.version(resource_type, resource_id, int(version))
        if stored is None:
            raise NotFound(f"{resource_type}/{resource_id} has no version {version}")
        if stored.deleted:
            raise Gone(f"{resource_type}/{resource_id} version {version} is a deletion")
        return stored

    # -- writes (R4 http.html#create, #update, #delete) ------------------------------------
    def create(self, resource: dict, resource_id: str | None = None) -> WriteResult:
        resource_type = resource["resourceType"]
        self.check_references(resource)
        new_id = resource_id or self.new_id()
        content = stamp(resource, new_id, 1, self.now)
        try:
            with self.session.begin_nested():
                stored = self.repo.create(resource_type, new_id, dumps(content),
                                          extract_index(resource_type, content), self.now)
        except IntegrityError:
            raise Conflict(f"{resource_type}/{new_id} already exists") from None
        self.last_delivery = self.after_write("create", content)
        return WriteResult(stored, True, self.last_delivery)

    def conditional_create(self, resource: dict, criteria: str) -> WriteResult:
        """If-None-Exist (R4 http.html#ccreate): 0 matches create, 1 returns it, >1 is 412."""
        resource_type = resource["resourceType"]
        self.lock_criteria(resource_type, criteria)
        matches = self.match(resource_type, criteria)
        if len(matches) > 1:
            raise PreconditionFailed(
                f"If-None-Exist criteria match {len(matches)} {resource_type} resources")
        if matches:
            return WriteResult(self.read(resource_type, matches[0]), False)
        return self.create(resource)

    def update(self, resource: dict, resource_id: str, if_match: int | None = None) -> WriteResult:
        """PUT: update, or create with the client's id (update-as-create, R4 http.html#upsert)."""
        resource_type = resource["resourceType"]
        if resource.get("id") != resource_id:
            raise BadRequest(
                f"Resource id {resource.get('id')!r} does not match the URL id {resource_id!r} "
                "(R4 http.html#update requires them to be equal)", expression=(f"{resource_type}.id",))
        existing = self.repo.current(resource_type, resource_id)
        if if_match is not None and (existing is None or existing.version_id != if_match):
            current = "none" if existing is None else existing.version_id
            raise PreconditionFailed(
                f"If-Match version {if_match} is stale: the current version is {current}")
        self.check_references(resource)
        if existing is None:
            return self.create(resource, resource_id)
        version = existing.version_id + 1
        content = stamp(resource, resource_id, version, self.now)
        try:
            stored = self.repo.update(existing, dumps(content),
                                      extract_index(resource_type, content), self.now)
        except VersionConflict:
            raise Conflict(f"{resource_type}/{resource_id} was changed concurrently; retry") from None
        self.last_delivery = self.after_write("update", content)
        return WriteResult(stored, False, self.last_delivery)

    def delete(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """DELETE is idempotent: deleting a missing or deleted resource succeeds (R4 #delete)."""
        existing = self.repo.current(resource_type, resource_id)
        if existing is None or existing.deleted:
            return None
        self.check_not_referenced(resource_type, resource_id)
        try:
            deleted = self.repo.delete(existing, self.now)
        except VersionConflict:
            raise Conflict(f"{resource_type}/{resource_id} was changed concurrently; retry") from None
        self.last_delivery = self.after_write("delete", json.loads(existing.content))
        return deleted

    # -- helpers ----------------------------------------------------------------------------
    def match(self, resource_type: str, criteria: str) -> list[str]:
        """Ids of the resources matching a search query string (strict: unknown params fail)."""
        params = parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
        if not params:
            raise BadRequest("Conditional criteria must not be empty")
        bundle = run_search(self.session, resource_type, params + [("_count", "2")],
                            base_url=self.base_url, handling="strict")
        return [e["resource"]["id"] for e in bundle.get("entry", [])
                if e.get("search", {}).get("mode") == "match"]

    def lock_criteria(self, resource_type: str, criteria: str) -> None:
        # Two concurrent conditional creates with the same criteria must not both create.
        # SQLite serialises writers already (BEGIN IMMEDIATE); PostgreSQL needs a lock.
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                                 {"k": f"{resource_type}?{criteria}"})

    def check_references(self, resource: dict) -> None:
        """Relative references to types this server stores must point at existing resources."""
        if self.deferred_refs is not None:
            self.deferred_refs.append(resource)
            return
        known = resource_types()
        wanted: dict[tuple[str, str], str] = {}
        for expression, reference in references_in(resource):
            parts = reference.split("/")
            if len(parts) in (2, 4) and parts[0] in known and "://" not in reference \
                    and known[parts[0]].references_must_resolve:
                wanted.setdefault((parts[0], parts[1]), expression)
        if not wanted:
            return
        missing = set(wanted) - self.repo.existing_ids(set(wanted))
        if missing:
            (rtype, rid) = sorted(missing)[0]
            raise Unprocessable(f"Reference {rtype}/{rid} points at a resource that does not exist",
                                expression=(wanted[(rtype, rid)],))

    def check_not_referenced(self, resource_type: str, resource_id: str) -> None:
        """Refuse to delete a resource others still point at (referential integrity, 409)."""
        referrer = self.repo.referenced_by(resource_type, resource_id)
        if referrer is not None:
            raise Conflict(f"{resource_type}/{resource_id} is referenced by {referrer}; "
                           "delete or update that resource first")
