"""An HL7 v2 backend over MLLP: translate with the pinned profile, send, read the ACK.

May import: gateway.delivery, gateway.settings, gateway.transports.mllp, translators, stdlib.
ACK handling (HL7 v2.5.1 2.9.2): AA/CA delivered; AE/CE retryable -> 503; AR/CR permanent
-> 422 carrying the ERR text. A timeout after sending leaves the outcome unknown: it is
answered as 503 (the EHR may have the message; the outbox issue adds idempotent replay).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from gateway.delivery import Delivered, DeliveryRefused, DeliveryUnavailable
from gateway.settings import BackendSettings, ConfigError
from gateway.transports.mllp import MllpClient, MllpError, MllpProtocolError, classify_ack
from translators.dialects import hl7v2
from translators.types import Profile, TranslateContext, TranslationError


def _address(backend: BackendSettings) -> tuple[str, int]:
    parts = urlsplit(backend.endpoint)
    if parts.scheme != "mllp" or not parts.hostname or not parts.port:
        raise ConfigError(f"backends.{backend.name}.endpoint: expected mllp://host:port, "
                          f"got {backend.endpoint!r}")
    return parts.hostname, parts.port


class Hl7v2Backend:
    def __init__(self, backend: BackendSettings, profile: Profile) -> None:
        host, port = _address(backend)
        self.backend, self.profile = backend, profile
        self.zone = ZoneInfo(str(backend.options.get("timezone", "UTC")))
        self.client = MllpClient(host, port,
                                 connect_timeout=float(backend.options.get("connect_timeout", 5)),
                                 read_timeout=float(backend.options.get("read_timeout", 30)))

    def push(self, interaction: str, resource: dict, backend_ids, related) -> Delivered:
        ctx = TranslateContext(now=datetime.now(self.zone), control_id=uuid.uuid4().hex[:20],
                               backend_ids=backend_ids, related=related,
                               options=dict(self.backend.options))
        try:
            message = hl7v2.render(self.profile, interaction, resource, ctx)
        except TranslationError as exc:
            raise DeliveryRefused(self.backend.name, f"cannot translate with {self.profile.key}: {exc}") from None
        try:
            reply = self.client.send(message.text)
            ack = classify_ack(reply, message.control_id)
        except MllpProtocolError as exc:
            raise DeliveryUnavailable(self.backend.name, f"garbled reply from the EHR ({exc})") from None
        except MllpError as exc:
            state = "may have been received" if getattr(exc, "sent", True) else "was not sent"
            raise DeliveryUnavailable(self.backend.name, f"{type(exc).__name__}: the message {state}") from None
        if ack.kind == "permanent":
            raise DeliveryRefused(self.backend.name, f"{ack.code}: {ack.error_text or 'refused'}")
        if ack.kind == "retryable":
            raise DeliveryUnavailable(self.backend.name, f"{ack.code}: {ack.error_text or 'error'}")
        return Delivered(self.backend.name, message.backend_id, self.profile.key, ack.code)

    def close(self) -> None:
        self.client.close()
