"""The audit trail: one AuditEvent per call that touches PHI, written with the work it records.

May import: gateway.store, gateway.services.*, stdlib. Events follow the IHE Basic Audit Log
Patterns (BALP) shapes for RESTful interactions: type `rest`, subtype = the FHIR interaction,
one agent for the caller (requestor, with its network address), the server as source, and one
entity per resource touched (every search hit too) plus the query itself for searches.
"""
from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from gateway.services.canonical import dumps, instant
from gateway.services.compartment import patients_of
from gateway.store.audit import AuditRecord, AuditRepository

# AuditEvent.action (R4 valueset-audit-event-action); BALP uses E for search/query.
ACTIONS = {"create": "C", "read": "R", "vread": "R", "update": "U", "delete": "D",
           "search-type": "E", "history-instance": "R", "history-type": "E", "batch": "E",
           "transaction": "E", "capabilities": "R", "login": "E", "transmit": "R",
           "security-alert": "E"}
DCM = "http://dicom.nema.org/resources/ontology/DCM"


@dataclass(frozen=True)
class Agent:
    """Who made the call: the OAuth client, the staff user (if any), role and source address."""

    client_id: str = "anonymous"
    user: str | None = None
    role: str | None = None
    address: str | None = None

    @property
    def name(self) -> str:
        return f"{self.client_id}/{self.user}" if self.user else self.client_id


def outcome_code(status: int) -> str:
    """AuditEvent.outcome: 0 success, 4 minor failure (refused/bad request), 8 serious (5xx)."""
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def _agent_element(agent: Agent) -> dict:
    element: dict = {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                             "code": "IRCP", "display": "information recipient"}]},
        "who": {"identifier": {"system": "urn:fhir-gateway:client", "value": agent.client_id}},
        "requestor": True,
    }
    if agent.user:
        element["altId"] = agent.user
        element["name"] = agent.user
    if agent.role:
        element["role"] = [{"text": agent.role}]
    if agent.address:
        element["network"] = {"address": agent.address, "type": "2"}
    return element


def _entity(reference: str, is_patient: bool) -> dict:
    return {"what": {"reference": reference},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                     "code": "1" if is_patient else "2"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role",
                     "code": "1" if is_patient else "4"}}


def build_event(event_id: str, agent: Agent, interaction: str, status: int, recorded: datetime,
                references: list[str], query: str | None, description: str) -> dict:
    event = {
        "resourceType": "AuditEvent", "id": event_id,
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "Restful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}],
        "action": ACTIONS.get(interaction, "E"), "recorded": instant(recorded),
        "outcome": outcome_code(status), "outcomeDesc": description[:500],
        "agent": [_agent_element(agent)],
        "source": {"observer": {"display": "fhir-gateway"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                             "code": "4", "display": "Application Server"}]},
    }
    entities = [_entity(ref, ref.startswith("Patient/")) for ref in references]
    if query is not None:
        entities.append({"type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                                  "code": "2"},
                         "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role",
                                  "code": "24"},
                         "query": base64.b64encode(query.encode("utf-8")).decode("ascii")})
    if entities:
        event["entity"] = entities
    if interaction == "login":  # the OAuth endpoints: DICOM "User Authentication" / "Login"
        event["type"] = {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110114",
                         "display": "User Authentication"}
        event["subtype"] = [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110122",
                             "display": "Login"}]
    if interaction == "transmit":  # a subscription notification: DICOM "Export" (BALP)
        event["type"] = {"system": DCM, "code": "110106", "display": "Export"}
        event["subtype"] = [{"system": "http://hl7.org/fhir/subscription-channel-type",
                             "code": "rest-hook", "display": "Rest Hook"}]
    if interaction == "security-alert":  # a peer (webhook sender) failed to prove who it is:
        # DICOM PS3.16 CID 400 "Security Alert", CID 403 "Node Authentication"
        event["type"] = {"system": DCM, "code": "110113", "display": "Security Alert"}
        event["subtype"] = [{"system": DCM, "code": "110126", "display": "Node Authentication"}]
    return event


def time_ordered_id(moment: datetime) -> str:
    """A UUID in the version 7 layout (RFC 9562 5.7): 48 bits of Unix milliseconds, then 74
    random bits. Consecutive events then sit side by side in the audit_events id index, so an
    append dirties one index page instead of a random one (each dirty page is a WAL write)."""
    millis = int(moment.replace(tzinfo=timezone.utc).timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big") & ((1 << 74) - 1)
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def build_record(agent: Agent, interaction: str, status: int, recorded: datetime,
                 resources: list[dict], *, extra_refs: list[str] = (), query: str | None = None,
                 description: str = "") -> AuditRecord:
    """The AuditEvent row for a call touching `resources` (dicts with resourceType + id)."""
    # (reference, patient): the patient column names the compartment's patient only for
    # resources other than that Patient; a Patient entity is found by its reference (see
    # AuditFilters). NULLs share one index page, so a 10-hit search dirties ~10 fewer pages.
    entities: list[tuple[str, str | None]] = []
    for resource in resources:
        reference = f"{resource['resourceType']}/{resource['id']}"
        if resource["resourceType"] == "Patient":
            entities.append((reference, None))
            continue
        patients = sorted(patients_of(resource)) or [None]
        entities += [(reference, p) for p in patients]
    entities += [(ref, None) for ref in extra_refs]
    references = list(dict.fromkeys(ref for ref, _ in entities))
    event_id = time_ordered_id(recorded)
    event = build_event(event_id, agent, interaction, status, recorded, references, query,
                        description or ("OK" if status < 400 else f"HTTP {status}"))
    return AuditRecord(event_id, recorded, event["action"], event["outcome"], interaction,
                       agent.name, dumps(event), tuple(dict.fromkeys(entities)))


def record(session: Session, agent: Agent, interaction: str, status: int, recorded: datetime,
           resources: list[dict], *, extra_refs: list[str] = (), query: str | None = None,
           description: str = "") -> str:
    """Append one AuditEvent in `session`'s transaction (the unit of work it records)."""
    row = build_record(agent, interaction, status, recorded, resources, extra_refs=extra_refs,
                       query=query, description=description)
    AuditRepository(session).append(row)
    return row.id
