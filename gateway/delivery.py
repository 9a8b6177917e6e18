"""The seam between the FHIR services and the backends: what a delivery may answer.

May import: stdlib only. Services call a `Delivery` (built in create_app) after writing the
local mirror and before committing; the sync package implements it over the translators and
transports. A refusal rolls the local write back (422). An unreachable backend either rolls it
back too (503) or, by default, leaves the write committed with a pending row in the outbox
that the worker delivers later (`Queued`): nothing is ever reported as delivered that was not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Delivered:
    """The backend took the write: its own id for the resource and what it answered."""

    backend: str
    backend_id: str | None
    profile: str
    detail: str = ""
    # records the backend found or registered on the way ((type, local id), backend id): a
    # Coverage's Patient looked up by MRN at a vendor that owns no Patient
    found: tuple[tuple[tuple[str, str], str], ...] = ()


@dataclass(frozen=True)
class DeliveryState:
    """What became of a write's delivery, for the response: `delivered` now, or `queued` in the
    outbox (row `outbox_id`) because the backend could not take it yet."""

    state: str  # delivered | queued | dead-lettered (when retries are switched off)
    backend: str
    outbox_id: int
    detail: str = ""


# An eligibility question is asked of the backend that owns the Coverage it names (R4
# CoverageEligibilityRequest.insurance.coverage): that backend knows the member.
ELIGIBILITY_ASKS = "Coverage"


@dataclass(frozen=True)
class EligibilityAnswer:
    """A backend's answer to an eligibility question, read into a CoverageEligibilityResponse
    (no id yet) by `profile`."""

    response: dict
    backend: str
    profile: str


class DeliveryRefused(Exception):
    """The backend refused permanently (HL7 AR/CR, vendor 4xx): answered as 422 with its reason."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"{backend}: {reason}")
        self.backend, self.reason = backend, reason


class DeliveryUnavailable(Exception):
    """The backend could not take it now (down, timeout, AE, 429, 5xx): answered as 503."""

    def __init__(self, backend: str, reason: str, retry_after: int | None = None) -> None:
        super().__init__(f"{backend}: {reason}")
        self.backend, self.reason = backend, reason
        # `hint`: the wait the backend itself asked for (HTTP Retry-After, a spent budget's
        # window), which the outbox honours; `retry_after`: what a client is told (30 s unless
        # the backend said).
        self.hint = retry_after
        self.retry_after = retry_after or 30


class Delivery(Protocol):
    """Pushes a local write to the backend that owns the resource type."""

    def owner(self, resource_type: str) -> str:
        """Name of the backend owning this type ("local" = no push)."""

    def profile(self, backend: str) -> str:
        """The translation profile (id@version) the backend is pinned to."""

    def landing_id(self, interaction: str, resource: dict,
                   backend_ids: dict[tuple[str, str], str]) -> str | None:
        """The backend record this write would land on, when known without asking the backend
        (a type kept on its parent's record); None otherwise."""

    def push(self, interaction: str, resource: dict, backend_ids: dict[tuple[str, str], str],
             related: dict[tuple[str, str], dict], *, resend: bool = False) -> Delivered | None:
        """Translate and send; `backend_ids` maps (type, local id) -> backend id for references,
        `related` holds the referenced resources a message may need (an Appointment's Patient).
        `resend`: an earlier try of this very change may have been taken (its answer lost).
        Returns None when the owner is the local store. Raises DeliveryRefused/Unavailable."""

    def query(self, resource_type: str, params: list[tuple[str, str]]):
        """The owning backend's answer to a search: an object whose `matches` holds
        (backend id, FHIR resource) pairs, or None when the local mirror must answer (local
        owner, or a backend/profile that does not answer this search). Raises
        DeliveryUnavailable when the backend should answer but cannot now."""

    def eligibility(self, request: dict, backend_ids: dict[tuple[str, str], str],
                    related: dict[tuple[str, str], dict], now) -> EligibilityAnswer | None:
        """Ask the backend owning Coverage about a CoverageEligibilityRequest (with its id), at
        once; `now` (aware) is the answer's `created`. None when that backend cannot answer
        eligibility questions. Raises DeliveryRefused/Unavailable, as `push` does."""


class LocalOnly:
    """The Delivery used when every resource type is owned by the local store."""

    def owner(self, resource_type: str) -> str:
        return "local"

    def profile(self, backend: str) -> str:
        return ""

    def landing_id(self, interaction: str, resource: dict, backend_ids) -> str | None:
        return None

    def push(self, interaction: str, resource: dict, backend_ids, related, *,
             resend: bool = False) -> Delivered | None:
        return None

    def query(self, resource_type: str, params: list[tuple[str, str]]):
        return None

    def eligibility(self, request: dict, backend_ids, related, now) -> EligibilityAnswer | None:
        return None
