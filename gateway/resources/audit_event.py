"""AuditEvent: read and search only (the log is append-only, written by the server itself).

Searched from the audit table by gateway.services.audit_search, not the resource indexes.
`agent` matches the client id (or client/user) recorded as AuditEvent.agent.who.identifier.
"""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/AuditEvent-"

RESOURCE = ResourceType(
    name="AuditEvent",
    search_params=(
        SearchParam("date", "date", ("recorded",), definition=_SP + "date"),
        SearchParam("agent", "reference", ("agent.who",), definition=_SP + "agent"),
        SearchParam("entity", "reference", ("entity.what",), definition=_SP + "entity"),
        SearchParam("patient", "reference", ("entity.what",), ("Patient",), definition=_SP + "patient"),
        SearchParam("action", "token", ("action",), definition=_SP + "action"),
        SearchParam("outcome", "token", ("outcome",), definition=_SP + "outcome"),
    ),
)
