"""Router: the Delivery that sends each write to the backend owning its resource type.

May import: gateway.delivery, gateway.settings, gateway.sync.*, translators, stdlib.
A backend declaring `options.rate_limit` spends its budget before each write is sent
(gateway.sync.budget): a spent budget raises BackendThrottled (answered 503 + Retry-After) and
nothing is sent. Queries are not budgeted yet: only the backend knows whether a search will be
sent at all (an unanswerable one falls back to the mirror without reaching the EHR).
"""
from __future__ import annotations

from typing import Mapping

from gateway.delivery import ELIGIBILITY_ASKS, Delivered, EligibilityAnswer
from gateway.settings import ConfigError, Settings
from gateway.sync.budget import BackendBudgets
from gateway.sync.hl7v2_backend import Hl7v2Backend
from gateway.sync.rest_backend import RestBackend
from translators.types import Profile

_BACKENDS = {"hl7v2": Hl7v2Backend, "rest": RestBackend}


class Router:
    def __init__(self, settings: Settings, profiles: Mapping[str, Profile],
                 budgets: BackendBudgets | None = None) -> None:
        self.budgets = budgets
        self.owners = {t: b.name for b in settings.backends for t in b.resources}
        self.default = settings.default_backend
        self.profiles = {b.name: b.profile for b in settings.backends}
        self.backends = {}
        for backend in settings.backends:
            if backend.dialect == "local":
                continue
            factory = _BACKENDS.get(backend.dialect)
            if factory is None:
                raise ConfigError(f"backends.{backend.name}.dialect: {backend.dialect!r} delivery "
                                  "is not available in this version")
            self.backends[backend.name] = factory(backend, profiles[backend.profile])

    def owner(self, resource_type: str) -> str:
        name = self.owners.get(resource_type, self.default)
        return name if name in self.backends else "local"

    def profile(self, backend: str) -> str:
        return self.profiles.get(backend, "")

    def landing_id(self, interaction: str, resource: dict, backend_ids) -> str | None:
        backend = self.backends.get(self.owner(resource["resourceType"]))
        finder = getattr(backend, "landing_id", None)
        return finder(interaction, resource, backend_ids) if finder else None

    def push(self, interaction: str, resource: dict, backend_ids, related, *,
             resend: bool = False) -> Delivered | None:
        name = self.owner(resource["resourceType"])
        if name == "local":
            return None
        if self.budgets:
            self.budgets.spend(name)
        return self.backends[name].push(interaction, resource, backend_ids, related, resend=resend)

    def query(self, resource_type: str, params: list[tuple[str, str]]):
        """The owning backend's answer to a search (QueryResult), or None when the owner is
        the local store or cannot answer this search (the mirror answers it)."""
        name = self.owner(resource_type)
        backend = self.backends.get(name)
        if backend is None or not hasattr(backend, "query"):
            return None
        return backend.query(resource_type, params)

    def eligibility(self, request: dict, backend_ids, related, now) -> EligibilityAnswer | None:
        """The answer of the backend owning Coverage, or None when it cannot answer (the local
        store, an HL7 v2 EHR, a REST profile without eligibility). Budgeted like a write."""
        name = self.owner(ELIGIBILITY_ASKS)
        backend = self.backends.get(name)
        if backend is None or not getattr(backend, "answers_eligibility", False):
            return None
        if self.budgets:
            self.budgets.spend(name)
        return backend.eligibility(request, backend_ids, related, now)

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()
