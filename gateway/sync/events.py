"""Inbound webhook events from a vendor REST EHR: verify, record raw, fetch, translate, apply.

May import: gateway.errors, gateway.delivery, gateway.settings, gateway.sync.*, translators,
stdlib. The database side is injected (`applier`, a gateway.services.inbound_events
EventApplier), as for the MLLP listener, so this module stays below the services layer.

One delivery, in order: the body size; the signature (401 and a security AuditEvent, nothing
else recorded); the body parsed (400, kept as a refused raw record); the event recorded raw
and keyed by its id (a redelivery of a finished event is answered from that record, applied
once); then the record fetched from the vendor (thin events: the event is a notice, the
vendor's current record is the truth, so late, repeated or reordered events cannot roll a
record back), read with the pinned profile and merged into the mirror. Answers: 200 applied
(or nothing to do), 422 untranslatable or refused (recorded with the reason; a redelivery
gets the same answer, not a retry), 503 vendor unreachable for the fetch (recorded as failed;
the vendor's redelivery tries again). Logs carry backend, event id and type, never bodies.

No echo: an event whose origin is the gateway's own API client (the vendor says who made the
change) is recorded and ignored; without an origin, the fetched record merges into an equal
resource and no version is written (gateway.services.inbound_events).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from gateway.delivery import DeliveryRefused, DeliveryUnavailable
from gateway.errors import (BadRequest, FhirError, NotFound, PayloadTooLarge, ServiceUnavailable,
                            Unauthorized, Unprocessable)
from gateway.settings import BackendSettings, ConfigError
from gateway.sync.webhook_signature import SCHEME, SignatureError, verify
from translators.dialects import vendor_events, vendor_json, vendor_merge
from translators.types import Profile, TranslationError

log = logging.getLogger("gateway.sync.events")

FINAL = ("applied", "ignored", "refused")  # a redelivery of these is answered from the record
VENDOR_ID = "urn:fhir-gateway:vendor-id:"  # vendor_json's logical references to unknown records


@dataclass(frozen=True)
class EventResult:
    """The answer to one delivery: HTTP status, outcome (a metrics label) and what happened."""

    status: int
    outcome: str  # applied | unchanged | ignored | duplicate
    detail: str
    reference: str | None = None


def _unknown_refs(node) -> list[tuple[str, str]]:
    """(type, vendor id) of every logical reference to a record the gateway does not hold."""
    found = []
    if isinstance(node, dict):
        identifier = node.get("identifier")
        system = str(identifier.get("system", "")) if isinstance(identifier, dict) else ""
        if system.startswith(VENDOR_ID) and "reference" not in node:
            found.append((system[len(VENDOR_ID):], str(node["identifier"].get("value", ""))))
        for value in node.values():
            found += _unknown_refs(value)
    elif isinstance(node, list):
        for item in node:
            found += _unknown_refs(item)
    return found


class EventReceiver:
    """One backend's webhook deliveries (see the module docstring for the steps)."""

    def __init__(self, backend: BackendSettings, profile: Profile, source, applier,
                 clock: Callable[[], float] = time.time) -> None:
        rule = vendor_events.signature_rule(profile)
        if rule["scheme"] != SCHEME:
            raise ConfigError(f"backends.{backend.name}.profile: signature scheme {rule['scheme']!r} "
                              "is not supported")
        self.backend, self.profile, self.source, self.applier = backend, profile, source, applier
        self.clock, self.header = clock, rule["header"]
        options = self.options = dict(backend.options)
        self.secret = str(options["webhook_secret"])
        self.tolerance = int(options.get("webhook_tolerance_seconds", 300))
        self.max_bytes = int(options.get("webhook_max_bytes", 65536))
        self.own_client = options.get("client_id")

    def receive(self, headers: Mapping[str, str], read_body: Callable[[int], bytes | None],
                address: str | None) -> EventResult:
        name = self.backend.name
        body = read_body(self.max_bytes)
        if body is None or len(body) > self.max_bytes:
            raise PayloadTooLarge(f"a webhook event from {name} may hold at most {self.max_bytes} bytes")
        try:
            verify(headers.get(self.header), body, self.secret, self.clock(), self.tolerance)
        except SignatureError as exc:
            self.applier.alert(name, address, str(exc))
            log.warning("webhook delivery for %s refused: %s", name, exc)
            raise Unauthorized(f"{exc}; events must be signed in {self.header}", headers={
                "WWW-Authenticate": f'HMAC-SHA256 realm="ingest", header="{self.header}"'}) from None
        event = self._parse(body)
        record = self.applier.record_event(name, event.id, event.type, body.decode("utf-8"))
        if not record.new and record.status in FINAL:
            return self._repeat(event, record)
        return self._process(record.pk, event, address)

    def _parse(self, body: bytes) -> vendor_events.VendorEvent:
        """The event in an authenticated body; one that is no event is kept and refused."""
        try:
            return vendor_events.read_event(self.profile, json.loads(body.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, TranslationError) as exc:
            reason = "the body is not valid UTF-8 JSON" if not isinstance(exc, TranslationError) \
                else f"not an event: {exc}"
            self.applier.record_refused(self.backend.name, body.decode("utf-8", "replace"), reason)
            raise BadRequest(reason) from None

    def _repeat(self, event, record) -> EventResult:
        log.info("webhook event %s (%s) for %s redelivered: %s", event.id, event.type,
                 self.backend.name, record.status)
        if record.status == "refused":
            raise Unprocessable(f"event {event.id} was refused: {record.detail}")
        return EventResult(200, "duplicate", f"event {event.id} was received before: {record.detail}",
                           record.resource_ref)

    def _process(self, pk: int, event, address: str | None) -> EventResult:
        name, finish = self.backend.name, self.applier.finish
        if event.resource_type is None:
            finish(pk, "refused", f"unknown event type {event.type!r}")
            raise Unprocessable(f"event type {event.type!r} is not one {self.profile.key} maps")
        if self.own_client and event.origin == self.own_client:
            detail = "the gateway's own change (event origin is its API client): already held"
            finish(pk, "ignored", detail)
            return EventResult(200, "ignored", detail)
        try:
            applied = self._apply(event, address)
        except DeliveryUnavailable as exc:
            finish(pk, "failed", exc.reason)
            log.warning("webhook event %s for %s: the vendor is unreachable for the fetch", event.id, name)
            raise ServiceUnavailable(f"cannot fetch {event.resource_type} {event.record_id} from {name} "
                                     f"now: {exc.reason}; redeliver later",
                                     headers={"Retry-After": str(exc.retry_after)}) from None
        except (DeliveryRefused, TranslationError) as exc:
            reason = exc.reason if isinstance(exc, DeliveryRefused) else f"cannot translate: {exc}"
            finish(pk, "refused", reason)
            self.applier.refused(name, address, 422, reason)
            raise Unprocessable(f"event {event.id}: {reason}") from None
        except FhirError as exc:  # from the mirror: invalid FHIR, unknown patient, conflict
            permanent = exc.status in (400, 422)
            finish(pk, "refused" if permanent else "failed", exc.diagnostics)
            if permanent:
                raise Unprocessable(f"event {event.id}: {exc.diagnostics}") from None
            raise
        changed = [a for a in applied if a.change not in ("absent", "unchanged")]
        outcome = "applied" if changed else "ignored" if applied[0].change == "absent" else "unchanged"
        detail = f"{event.type}: " + ", ".join(f"{a.reference or event.resource_type} {a.change}"
                                                for a in applied)
        finish(pk, "applied" if changed else "ignored", detail, applied[0].reference)
        log.info("webhook event %s (%s) for %s: %s", event.id, event.type, name, outcome)
        return EventResult(200, outcome, detail, applied[0].reference)

    def _apply(self, event, address: str | None) -> list:
        """What the event changed: the record's resource first, then the other types the same
        record carries (`also`) that the gateway holds for it."""
        rtype, name = event.resource_type, self.backend.name
        record = self.source.fetch(rtype, event.record_id)
        if record is None:
            if event.change == "delete":
                return [self.applier.remove(name, rtype, event.record_id, rtype in self.backend.resources,
                                            address)]
            return [_Absent()]
        if vendor_json.record_id(self.profile, rtype, record) != event.record_id:
            raise TranslationError(rtype, "the vendor answered with another record than the event names")
        applied = [self._upsert(rtype, event.record_id, self._read(rtype, record, address), address)]
        for also in event.also:
            if self.applier.local_id(name, also, event.record_id) is not None:
                fresh = self._read(also, record, address, 1)
                applied.append(self._upsert(also, event.record_id, fresh, address))
        return applied

    def _upsert(self, rtype: str, backend_id: str, fresh: dict, address: str | None):
        return self.applier.upsert(self.backend.name, self.profile.key, rtype, backend_id, fresh,
                                   lambda current, resource: vendor_merge.overlay(
                                       self.profile, rtype, current, resource, self.options), address)

    def _read(self, rtype: str, record: dict, address: str | None, depth: int = 0) -> dict:
        """The record as FHIR; a record it points at that the gateway does not hold yet (an
        appointment's patient registered before the subscription) is fetched and applied
        first, one level deep."""
        local_ids = lambda t, vendor_id: self.applier.local_id(self.backend.name, t, vendor_id)  # noqa: E731
        fresh = vendor_json.read(self.profile, rtype, record, self.options, local_ids)
        missing = [(t, v) for t, v in _unknown_refs(fresh) if t != rtype] if depth == 0 else []
        for ref_type, vendor_id in missing:
            related = self.source.fetch(ref_type, vendor_id)
            if related is not None:
                self._upsert(ref_type, vendor_id, self._read(ref_type, related, address, depth + 1), address)
        return vendor_json.read(self.profile, rtype, record, self.options, local_ids) if missing else fresh


@dataclass(frozen=True)
class _Absent:
    """An upsert event whose record the vendor no longer has (its delete event will follow)."""

    reference: str | None = None
    change: str = "absent"


class EventIngest:
    """The receivers of every backend that takes webhook events, by backend name."""

    def __init__(self, receivers: Mapping[str, EventReceiver]) -> None:
        self.receivers = dict(receivers)

    def knows(self, backend: str) -> bool:
        return backend in self.receivers

    def receive(self, backend: str, headers: Mapping[str, str],
                read_body: Callable[[int], bytes | None], address: str | None) -> EventResult:
        receiver = self.receivers.get(backend)
        if receiver is None:
            raise NotFound(f"no backend named {backend!r} takes webhook events here")
        return receiver.receive(headers, read_body, address)


def build_ingest(backends: tuple[BackendSettings, ...], profiles: Mapping[str, Profile],
                 sources: Mapping[str, object], applier) -> EventIngest:
    """A receiver for each REST backend configured with `options.webhook_secret`; its pinned
    profile must declare the vendor's events (ConfigError otherwise, naming the key)."""
    receivers = {}
    for backend in backends:
        if backend.dialect != "rest" or not backend.options.get("webhook_secret"):
            continue
        profile = profiles[backend.profile]
        if vendor_events.events_spec(profile) is None:
            raise ConfigError(f"backends.{backend.name}.options.webhook_secret: profile "
                              f"{profile.key} declares no webhook events (rest.events)")
        receivers[backend.name] = EventReceiver(backend, profile, sources[backend.name], applier)
    return EventIngest(receivers)
