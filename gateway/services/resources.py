"""FhirService: one method per FHIR interaction, each one unit of work with its audit record.

May import: gateway.store, gateway.errors, gateway.services.*. The API layer calls exactly one
method per request. Validation, reference checks, id assignment, indexing, the write and the
AuditEvent happen here, in one transaction; a refused or failed call is audited too
(HIPAA 45 CFR 164.312(b)), in a transaction of its own since the work was rolled back.
"""
from __future__ import annotations

import json
from datetime import datetime
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

from gateway.delivery import Delivery, LocalOnly
from gateway.errors import FhirError, MethodNotAllowed, NotFound
from gateway.resources import resource_types
from gateway.services import audit, eligibility
from gateway.services.audit import Agent
from gateway.services.audit_search import search_bundle as audit_search_bundle
from gateway.services.canonical import utc_now
from gateway.services.duplicates import watch_duplicates, with_flags
from gateway.services.history import history_bundle
from gateway.services.push import DeliveryRules, push_write
from gateway.services.remote_search import mirror_query, restricted_params
from gateway.services.interactions import Interactions, WriteResult, live, parse_etag
from gateway.services.notify import Notifications
from gateway.services import subscriptions
from gateway.services.search import run_search
from gateway.services.validation import validate_resource
from gateway.settings import Settings
from gateway.store.audit import AuditRecord, AuditRepository, ChainCheck
from gateway.store.audit_drain import DrainResult, drain_journal
from gateway.store.audit_journal import AuditJournal
from gateway.store.db import Database
from gateway.store.resources import StoredResource


@dataclass
class AuditNote:
    """What a unit of work touched, filled in by the interaction, recorded on exit."""

    resources: list[dict] = field(default_factory=list)
    status: int = 200


def _entries_resources(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", [])
            if e.get("search", {}).get("mode") != "outcome" and "resource" in e
            and "id" in e["resource"]]


def _touched(stored: StoredResource) -> dict:
    """What the audit needs of a resource read: a Patient is its own compartment, so its type
    and id suffice (no parse of the stored JSON); other types are parsed for their patients."""
    if stored.resource_type == "Patient":
        return {"resourceType": "Patient", "id": stored.id}
    return json.loads(stored.content)


class FhirService:
    """The FHIR interactions over the local store, checked against what the profiles support."""

    def __init__(self, db: Database, settings: Settings,
                 supported: Mapping[str, frozenset[str]],
                 clock: Callable = utc_now, delivery: Delivery | None = None,
                 journal: AuditJournal | None = None,
                 journaled: Callable[[], None] = lambda: None,
                 rules: DeliveryRules | None = None) -> None:
        self.db = db
        self.settings = settings
        self.supported = supported  # resource type -> interactions the active profiles serve
        self.clock = clock
        self.delivery = delivery or LocalOnly()
        self.rules = rules  # how writes owed to a backend that is down are queued (push.py)
        # Reads' AuditEvents go to the journal (see store.audit_journal) when there is one,
        # else into the chain in a transaction of their own; `journaled` wakes the drainer.
        self.journal = journal
        self.journaled = journaled
        self.notify = Notifications(settings.base_url)  # active Subscriptions, cached per process

    def interactions(self, session, base_url: str = "", *, queue_only: bool = False) -> Interactions:
        """Interactions on `session` whose writes are pushed to the owning backend (or queued
        in the outbox; `queue_only`: always queued, never tried inline)."""
        ops = Interactions(session, self.clock(), base_url)
        ops.after_write = lambda interaction, resource: push_write(
            session, self.delivery, interaction, resource, ops.now, self.rules, queue_only=queue_only)
        ops.after_write = self.notify.hooked(ops.after_write, session, ops.now)  # Subscriptions
        ops.after_write = watch_duplicates(ops, self.settings)  # flag Patients, in this transaction
        return ops

    def admit(self, resource: dict) -> dict:
        """Server rules a valid resource must also meet (Subscription: R4 subscription.html)."""
        if resource.get("resourceType") != "Subscription":
            return resource
        return subscriptions.admit(resource, self.supported, base_url=self.settings.base_url,
                                   allow_http=self.settings.subscription_allow_http)

    def implied_reads(self, resource_type: str, body: object) -> list[str]:
        """Types a write of this body lets its author read (a Subscription's criteria type)."""
        return subscriptions.implied_reads(resource_type, body, self.supported)

    def check(self, resource_type: str, interaction: str) -> None:
        """404 for a type this server does not serve, 405 for an interaction it does not."""
        if resource_type not in self.supported or resource_type not in resource_types():
            raise NotFound(f"Resource type {resource_type!r} is not served by this server")
        if interaction not in self.supported[resource_type]:
            raise MethodNotAllowed(
                f"The {interaction} interaction is not supported for {resource_type}")

    @contextmanager
    def unit(self, agent: Agent, interaction: str, *, refs: tuple[str, ...] = (),
             query: str | None = None) -> Iterator[tuple]:
        """One transaction for the work and its AuditEvent; failures audited separately."""
        note = AuditNote()
        try:
            with self.db.transaction() as session:
                yield session, note
                audit.record(session, agent, interaction, note.status, self.clock(),
                             note.resources, extra_refs=list(refs), query=query)
        except FhirError as exc:
            if not getattr(exc, "audited", False):
                self.audit_only(agent, interaction, exc.status, refs, query, exc.diagnostics)
                exc.audited = True  # the API's error handler must not audit it a second time
            raise
        except Exception:
            self.audit_only(agent, interaction, 500, refs, query, "unexpected server error")
            raise

    @contextmanager
    def read_unit(self, agent: Agent, interaction: str, *, refs: tuple[str, ...] = (),
                  query: str | None = None, statements: bool = False) -> Iterator[tuple]:
        """Reads run in a plain read session (no writer lock); their AuditEvent is committed
        right after, before the response leaves: no PHI is answered without its audit row.
        With `statements`, a Core connection instead of a Session (see Database.read_statements)."""
        note = AuditNote()
        with self._audit_failures(agent, interaction, refs, query):
            with self.db.read_statements() if statements else self.db.read() as session:
                yield session, note
        row = audit.build_record(agent, interaction, note.status, self.clock(), note.resources,
                                 extra_refs=list(refs), query=query)
        if self.journal is not None:
            self._journal(row)
            return
        with self.db.direct() as direct:
            direct.append_audit(row)

    def _journal(self, row: AuditRecord) -> None:
        """The read's AuditEvent, durable in the journal before the response leaves."""
        self.journal.append(row)
        self.journaled()

    def drain_audit(self) -> DrainResult:
        """Chain every journaled AuditEvent now (before the trail is searched or verified)."""
        if self.journal is None:
            return DrainResult()
        return drain_journal(self.db, self.journal)

    @contextmanager
    def _audit_failures(self, agent: Agent, interaction: str, refs: tuple[str, ...],
                        query: str | None) -> Iterator[None]:
        """A read that failed did no work: its AuditEvent gets a transaction of its own."""
        try:
            yield
        except FhirError as exc:
            if not getattr(exc, "audited", False):
                self.audit_only(agent, interaction, exc.status, refs, query, exc.diagnostics)
                exc.audited = True
            raise
        except Exception:
            self.audit_only(agent, interaction, 500, refs, query, "unexpected server error")
            raise

    def audit_only(self, agent: Agent, interaction: str, status: int, refs=(), query=None,
                   description: str = "") -> None:
        """Record a call that did no work (refused, failed): still an AuditEvent."""
        with self.db.transaction() as session:
            audit.record(session, agent, interaction, status, self.clock(), [],
                         extra_refs=list(refs), query=query, description=description)

    def read(self, resource_type: str, resource_id: str, agent: Agent = Agent()) -> StoredResource:
        refs = (f"{resource_type}/{resource_id}",)
        if resource_type == "AuditEvent":
            self.drain_audit()  # an auditor sees every event recorded before the request
            with self.read_unit(agent, "read", refs=refs) as (session, _note):
                self.check(resource_type, "read")
                return self._read_audit(session, resource_id)
        # The hot path: one pooled DB-API connection for the read and its AuditEvent (on
        # PostgreSQL one transaction), no Session; the stored canonical JSON is served as is.
        with self._audit_failures(agent, "read", refs, None), self.db.direct() as direct:
            self.check(resource_type, "read")
            stored = live(direct.current(resource_type, resource_id), resource_type, resource_id)
            row = audit.build_record(agent, "read", 200, self.clock(), [_touched(stored)],
                                     extra_refs=list(refs))
            if self.journal is not None:
                self._journal(row)
            else:
                direct.append_audit(row)
        return stored

    def vread(self, resource_type: str, resource_id: str, version: str,
              agent: Agent = Agent()) -> StoredResource:
        with self.read_unit(agent, "vread", refs=(f"{resource_type}/{resource_id}",)) as (session, note):
            self.check(resource_type, "vread")
            stored = self.interactions(session, "").vread(resource_type, resource_id, version)
            note.resources.append(json.loads(stored.content))
            return stored

    def create(self, resource_type: str, body: object, *, base_url: str,
               if_none_exist: str | None = None, agent: Agent = Agent()) -> WriteResult:
        if resource_type == eligibility.REQUEST:  # asked of the EHR at once, stored with its answer
            return eligibility.submit_check(self, body, base_url=base_url,
                                            if_none_exist=if_none_exist, agent=agent)
        with self.unit(agent, "create", query=if_none_exist) as (session, note):
            self.check(resource_type, "create")
            resource = self.admit(validate_resource(body, resource_type))
            ops = self.interactions(session, base_url)
            result = ops.conditional_create(resource, if_none_exist) if if_none_exist else ops.create(resource)
            note.resources.append(json.loads(result.stored.content))
            note.status = 201 if result.created else 200
            return with_flags(result, session)

    def update(self, resource_type: str, resource_id: str, body: object, *, base_url: str,
               if_match: str | None = None, agent: Agent = Agent()) -> WriteResult:
        with self.unit(agent, "update", refs=(f"{resource_type}/{resource_id}",)) as (session, note):
            self.check(resource_type, "update")
            resource = self.admit(validate_resource(body, resource_type))
            expected = parse_etag(if_match)
            result = self.interactions(session, base_url).update(resource, resource_id, expected)
            note.resources.append(json.loads(result.stored.content))
            return with_flags(result, session)

    def delete(self, resource_type: str, resource_id: str,
               agent: Agent = Agent()) -> StoredResource | None:
        with self.unit(agent, "delete", refs=(f"{resource_type}/{resource_id}",)) as (session, _note):
            self.check(resource_type, "delete")
            return self.interactions(session, "").delete(resource_type, resource_id)

    def search(self, resource_type: str, params: list[tuple[str, str]], *, base_url: str,
               handling: str, compartment: tuple[str, str] | None = None,
               agent: Agent = Agent()) -> dict:
        query = f"{resource_type}?" + "&".join(f"{k}={v}" for k, v in params)
        if resource_type == "AuditEvent":
            self.drain_audit()
        if compartment is None and "search-type" in self.supported.get(resource_type, ()):
            answered = mirror_query(self, resource_type, params)  # the EHR answers, if it can
            params = params if answered is None else restricted_params(params, answered)
        with self.read_unit(agent, "search-type", query=query, statements=True) as (session, note):
            self.check(resource_type, "search-type")
            if resource_type == "AuditEvent":
                return audit_search_bundle(session, params, base_url=base_url,
                                           default_count=self.settings.default_page_size,
                                           max_count=self.settings.max_page_size)
            bundle = run_search(session, resource_type, params, base_url=base_url,
                                handling=handling, default_count=self.settings.default_page_size,
                                max_count=self.settings.max_page_size, compartment=compartment)
            note.resources.extend(_entries_resources(bundle))
            return bundle

    def history(self, resource_type: str, resource_id: str | None,
                params: list[tuple[str, str]], *, base_url: str, agent: Agent = Agent()) -> dict:
        interaction = "history-instance" if resource_id else "history-type"
        refs = (f"{resource_type}/{resource_id}",) if resource_id else ()
        with self.read_unit(agent, interaction, refs=refs) as (session, note):
            self.check(resource_type, interaction)
            if resource_id and self.interactions(session, "").repo.current(
                    resource_type, resource_id) is None:
                raise NotFound(f"{resource_type}/{resource_id} is not known")
            bundle = history_bundle(session, resource_type, resource_id, params, base_url=base_url,
                                    default_count=self.settings.default_page_size,
                                    max_count=self.settings.max_page_size)
            note.resources.extend(e["resource"] for e in bundle["entry"] if "resource" in e)
            return bundle

    def _read_audit(self, session, audit_id: str) -> StoredResource:
        content = AuditRepository(session).read(audit_id)
        if content is None:
            raise NotFound(f"AuditEvent/{audit_id} is not known")
        event = json.loads(content)
        moment = datetime.fromisoformat(event["recorded"].replace("Z", "+00:00")).replace(tzinfo=None)
        return StoredResource(0, "AuditEvent", audit_id, 1, moment, False, content)

    def verify_audit_chain(self) -> ChainCheck:
        self.drain_audit()
        with self.db.read() as session:
            return AuditRepository(session).verify()

    def ping(self) -> bool:
        """True when the database answers a trivial query (readiness)."""
        try:
            with self.db.read() as session:
                session.connection().exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False
