"""The staff directory on the FHIR side: one Practitioner per staff user, kept by the server.

May import: fhir.resources, sqlalchemy, gateway.store, gateway.resources, gateway.services.*.
SMART's `fhirUser` claim must name a FHIR resource the app can read (SMART App Launch 2.x
scopes-and-launch-context.md#fhiruser; Inferno accepts Patient, Practitioner, RelatedPerson or
Person). A staff user is a Practitioner here, written in the same transaction as the user row
and audited like any other write; apps cannot create or change it (the profile offers read
and search only).
"""
from __future__ import annotations

from datetime import datetime

from fhir.resources.R4B.practitioner import Practitioner
from sqlalchemy.orm import Session

from gateway.resources.practitioner import STAFF_USER_SYSTEM
from gateway.services import audit
from gateway.services.interactions import Interactions


def practitioner_for(username: str, display_name: str | None) -> dict:
    """The Practitioner for a staff user (name split as "Given ... Family" when given)."""
    resource: dict = {"resourceType": "Practitioner", "active": True,
                      "identifier": [{"system": STAFF_USER_SYSTEM, "value": username}]}
    words = (display_name or "").split()
    if words:
        name: dict = {"family": words[-1], "text": " ".join(words)}
        if len(words) > 1:
            name["given"] = words[:-1]
        resource["name"] = [name]
    Practitioner.model_validate(resource)  # the server writes only valid R4 resources
    return resource


def add_practitioner(session: Session, now: datetime, username: str, display_name: str | None,
                     agent: audit.Agent) -> str:
    """Write the user's Practitioner in the caller's transaction; returns its id."""
    result = Interactions(session, now, "").create(practitioner_for(username, display_name))
    stored = result.stored
    audit.record(session, agent, "create", 201, now,
                 [{"resourceType": "Practitioner", "id": stored.id}],
                 description="staff user added")
    return stored.id
