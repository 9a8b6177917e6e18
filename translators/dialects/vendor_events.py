"""A vendor's webhook events, read by the profile's `rest.events` section, and the request that
fetches the record an event is about. Pure.

May import: stdlib, translators.*. Vendors send thin events (athenahealth, Elation, Stripe,
GitHub): "patient.updated, id p-17", signed, and the receiver fetches the record itself, so
an event never carries PHI and a late or repeated event can never roll a record back: what is
applied is always the vendor's current record. The `events` section holds:
  envelope   pointers into the event body: id, type, record (the vendor id), occurred_at, origin
  signature  {header, scheme}: where the signature is and how it is computed (the gateway
             checks it; see gateway.sync.webhook_signature)
  types      vendor event type -> {type: FHIR type, change: upsert | delete, also: [types]}:
             `also` names types the same record carries (a Coverage on its patient's record)
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from translators.dialects.vendor_json import VendorRequest, pointer_get, rest_spec
from translators.types import Profile, TranslationError

MAX_ID = 255  # the longest event or record id kept (inbound_messages.event_id)


@dataclass(frozen=True)
class VendorEvent:
    """One event as the profile reads it; `resource_type` is None for a type it does not map."""

    id: str
    type: str
    record_id: str
    resource_type: str | None
    change: str  # upsert | delete
    origin: str | None = None  # the vendor API client that made the change, if the vendor says
    occurred_at: str | None = None
    also: tuple[str, ...] = ()  # further types the same record carries


def events_spec(profile: Profile) -> dict | None:
    """The profile's `rest.events` section, or None when it declares no webhook events."""
    spec = profile.data.get("rest") if profile.dialect == "rest" else None
    return spec.get("events") if isinstance(spec, dict) else None


def _events(profile: Profile) -> dict:
    spec = events_spec(profile)
    if spec is None:
        raise TranslationError(profile.key, "profile declares no webhook events")
    return spec


def signature_rule(profile: Profile) -> dict:
    """{header, scheme} of the profile's signed events."""
    return dict(_events(profile)["signature"])


def _text(body: dict, pointer: str | None, name: str, required: bool) -> str | None:
    value = pointer_get(body, pointer) if pointer else None
    if value is None or value == "":
        if required:
            raise TranslationError(pointer or name, f"the event has no {name}")
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise TranslationError(pointer, f"the event's {name} must be a string")
    text = str(value)
    if len(text) > MAX_ID or any(ord(c) < 32 for c in text):
        raise TranslationError(pointer, f"the event's {name} is not a usable id")
    return text


def read_event(profile: Profile, body) -> VendorEvent:
    """The event in a parsed webhook body; TranslationError when a required field is missing."""
    spec = _events(profile)
    if not isinstance(body, dict):
        raise TranslationError("$", "the event is not a JSON object")
    envelope = spec["envelope"]
    event_id = _text(body, envelope["id"], "id", True)
    event_type = _text(body, envelope["type"], "type", True)
    record_id = _text(body, envelope["record"], "record id", True)
    rule = spec["types"].get(event_type, {})
    return VendorEvent(event_id, event_type, record_id, rule.get("type"), rule.get("change", "upsert"),
                       _text(body, envelope.get("origin"), "origin", False),
                       _text(body, envelope.get("occurred_at"), "occurred_at", False),
                       tuple(rule.get("also", ())))


def read_request(profile: Profile, resource_type: str, backend_id: str) -> VendorRequest:
    """GET one record by its vendor id (the type's `read` endpoint); the id is quoted, so an
    id from an event can never reach another path of the vendor's API."""
    endpoint = rest_spec(profile).get("endpoints", {}).get(resource_type, {}).get("read")
    if endpoint is None:
        raise TranslationError(f"{resource_type}.read", f"profile {profile.key} has no endpoint for it")
    if "{parent}" in endpoint["path"]:
        raise TranslationError(f"{resource_type}.read", "a record is read by its own id only")
    path = endpoint["path"].replace("{id}", quote(backend_id, safe=""))
    return VendorRequest(endpoint["method"], path, None, backend_id)
