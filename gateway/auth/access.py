"""Access: what the current request's token allows, checked on every interaction.

May import: flask, gateway.errors, gateway.auth.scopes. SMART patient/ scopes confine access to
the patient in context: its Patient compartment as R4 compartmentdefinition-patient defines it
(the Patient itself; Appointments where it is an actor; Coverages where it is policy-holder,
subscriber, beneficiary or payor; DocumentReferences where it is subject or author); a request outside is 403, and a
search is restricted to the compartment, never leaking other patients' resources.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import g

from gateway.auth.scopes import Scope, allowed, parse_scopes
from gateway.errors import Forbidden


@dataclass(frozen=True)
class Access:
    client_id: str
    role: str
    scope: str
    patient: str | None = None
    user: str | None = None
    scopes: tuple[Scope, ...] = field(default=())
    fhir_user: str | None = None  # "Practitioner/<id>" when the token carries fhirUser

    @classmethod
    def of(cls, client_id: str, role: str, scope: str, patient: str | None = None,
           user: str | None = None, fhir_user: str | None = None) -> "Access":
        relative = "/".join(fhir_user.rstrip("/").split("/")[-2:]) if fhir_user else None
        return cls(client_id, role, scope, patient, user, tuple(parse_scopes(scope)), relative)

    def is_own_identity(self, resource_type: str, resource_id: str | None, interaction: str) -> bool:
        """Reading the fhirUser resource itself: what the `fhirUser` scope asks for (SMART
        scopes-and-launch-context.md#fhiruser; the app resolves the claim with its token)."""
        return (interaction in ("read", "vread") and self.fhir_user is not None
                and self.fhir_user == f"{resource_type}/{resource_id}"
                and "fhirUser" in self.scope.split())

    def authorize(self, resource_type: str, interaction: str, resource_id: str | None = None) -> None:
        if interaction == "subscribe":
            self._authorize_subscribe(resource_type)
            return
        if self.is_own_identity(resource_type, resource_id, interaction):
            return
        if not allowed(list(self.scopes), resource_type, interaction):
            raise Forbidden(f"the token's scopes do not allow {interaction} on {resource_type}")

    def _authorize_subscribe(self, resource_type: str) -> None:
        """A Subscription on `resource_type` pushes every matching resource of that type to its
        endpoint, for as long as it lives (past this token's expiry): its author must search
        the type, beyond one patient's compartment. patient/-scoped tokens may not subscribe
        at all (Subscription is outside R4 compartmentdefinition-patient)."""
        writes = allowed(list(self.scopes), "Subscription", "create") | allowed(
            list(self.scopes), "Subscription", "update")
        if writes == {"patient"}:
            raise Forbidden("a patient/-scoped token may not manage Subscriptions: a Subscription "
                            "outlives the token and is outside the Patient compartment; use a "
                            "user/ or system/ scope")
        reads = allowed(list(self.scopes), resource_type, "search-type")
        if not reads:
            raise Forbidden(f"the token's scopes do not allow search on {resource_type}, so it may "
                            f"not subscribe to {resource_type} changes")
        if reads == {"patient"}:
            raise Forbidden(f"the token searches {resource_type} only within a patient's "
                            f"compartment (patient/ scope); a Subscription would send it every "
                            f"matching {resource_type}: refused")

    def patient_compartment(self, resource_type: str, interaction: str) -> str | None:
        """The patient id when only patient/ scopes grant this (so results must be confined)."""
        contexts = allowed(list(self.scopes), resource_type, interaction)
        if contexts == {"patient"}:
            if not self.patient:
                raise Forbidden("patient/ scopes need a patient in context")
            return self.patient
        return None

    def require_role(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"this operation needs role {' or '.join(roles)}")


def current_access() -> Access | None:
    """The Access of this request (None when auth is off)."""
    return g.get("fhir_access")


def set_access(access: Access | None) -> None:
    g.fhir_access = access
