"""FhirService: one method per FHIR interaction, each its own unit of work.

May import: gateway.store, gateway.errors, gateway.services.*. The API layer calls exactly one
method per request; validation, reference checks, id assignment, indexing and the write happen
here, inside one transaction.
"""
from __future__ import annotations

from typing import Callable, Mapping

from gateway.errors import MethodNotAllowed, NotFound
from gateway.resources import resource_types
from gateway.services.canonical import utc_now
from gateway.services.history import history_bundle
from gateway.services.interactions import Interactions, WriteResult, parse_etag
from gateway.services.search import run_search
from gateway.services.validation import validate_resource
from gateway.settings import Settings
from gateway.store.db import Database
from gateway.store.resources import StoredResource


class FhirService:
    """The FHIR interactions over the local store, checked against what the profiles support."""

    def __init__(self, db: Database, settings: Settings,
                 supported: Mapping[str, frozenset[str]],
                 clock: Callable = utc_now) -> None:
        self.db = db
        self.settings = settings
        self.supported = supported  # resource type -> interactions the active profiles serve
        self.clock = clock

    def check(self, resource_type: str, interaction: str) -> None:
        """404 for a type this server does not serve, 405 for an interaction it does not."""
        if resource_type not in self.supported or resource_type not in resource_types():
            raise NotFound(f"Resource type {resource_type!r} is not served by this server")
        if interaction not in self.supported[resource_type]:
            raise MethodNotAllowed(
                f"The {interaction} interaction is not supported for {resource_type}")

    def read(self, resource_type: str, resource_id: str) -> StoredResource:
        self.check(resource_type, "read")
        with self.db.read() as session:
            return Interactions(session, self.clock(), "").read(resource_type, resource_id)

    def vread(self, resource_type: str, resource_id: str, version: str) -> StoredResource:
        self.check(resource_type, "vread")
        with self.db.read() as session:
            return Interactions(session, self.clock(), "").vread(resource_type, resource_id, version)

    def create(self, resource_type: str, body: object, *, base_url: str,
               if_none_exist: str | None = None) -> WriteResult:
        self.check(resource_type, "create")
        resource = validate_resource(body, resource_type)
        with self.db.transaction() as session:
            ops = Interactions(session, self.clock(), base_url)
            if if_none_exist:
                return ops.conditional_create(resource, if_none_exist)
            return ops.create(resource)

    def update(self, resource_type: str, resource_id: str, body: object, *, base_url: str,
               if_match: str | None = None) -> WriteResult:
        self.check(resource_type, "update")
        resource = validate_resource(body, resource_type)
        expected = parse_etag(if_match)
        with self.db.transaction() as session:
            return Interactions(session, self.clock(), base_url).update(resource, resource_id, expected)

    def delete(self, resource_type: str, resource_id: str) -> StoredResource | None:
        self.check(resource_type, "delete")
        with self.db.transaction() as session:
            return Interactions(session, self.clock(), "").delete(resource_type, resource_id)

    def search(self, resource_type: str, params: list[tuple[str, str]], *, base_url: str,
               handling: str) -> dict:
        self.check(resource_type, "search-type")
        with self.db.read() as session:
            return run_search(session, resource_type, params, base_url=base_url, handling=handling,
                              default_count=self.settings.default_page_size,
                              max_count=self.settings.max_page_size)

    def history(self, resource_type: str, resource_id: str | None,
                params: list[tuple[str, str]], *, base_url: str) -> dict:
        self.check(resource_type, "history-instance" if resource_id else "history-type")
        with self.db.read() as session:
            if resource_id and Interactions(session, self.clock(), "").repo.current(
                    resource_type, resource_id) is None:
                raise NotFound(f"{resource_type}/{resource_id} is not known")
            return history_bundle(session, resource_type, resource_id, params, base_url=base_url,
                                  default_count=self.settings.default_page_size,
                                  max_count=self.settings.max_page_size)

    def ping(self) -> bool:
        """True when the database answers a trivial query (readiness)."""
        try:
            with self.db.read() as session:
                session.connection().exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False
