"""An HL7 v2 backend over MLLP: translate with the pinned profile, send, read the ACK.

May import: gateway.delivery, gateway.settings, gateway.transports, translators, stdlib.
An endpoint mllps://host:port speaks MLLP over TLS (1.2 minimum; options tls_ca, tls_cert,
tls_key, tls_server_name).
Queries (IHE PDQ, when the profile says the EHR answers them) go the same way.
ACK handling (HL7 v2.5.1 2.9.2): AA/CA delivered; AE/CE retryable -> 503; AR/CR permanent
-> 422 carrying the ERR text. A timeout after sending leaves the outcome unknown: it is
answered as 503 (the EHR may have the message; the outbox issue adds idempotent replay).
"""
from __future__ import annotations

import hashlib
import ssl
import uuid
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from gateway.delivery import Delivered, DeliveryRefused, DeliveryUnavailable
from gateway.settings import BackendSettings, ConfigError
from gateway.transports.mllp import MllpClient, MllpError, MllpProtocolError, classify_ack
from gateway.transports.tls import client_context
from translators.dialects import hl7v2, hl7v2_query
from translators.types import Profile, QueryResult, TranslateContext, TranslationError


def _address(backend: BackendSettings) -> tuple[str, int, bool]:
    """(host, port, tls): mllp://host:port, or mllps://host:port for MLLP over TLS."""
    parts = urlsplit(backend.endpoint)
    if parts.scheme not in ("mllp", "mllps") or not parts.hostname or not parts.port:
        raise ConfigError(f"backends.{backend.name}.endpoint: expected mllp://host:port or "
                          f"mllps://host:port, got {backend.endpoint!r}")
    return parts.hostname, parts.port, parts.scheme == "mllps"


def _tls(backend: BackendSettings, host: str) -> tuple[ssl.SSLContext, str]:
    """The client TLS context (1.2 minimum, certificate and host name checked) from options
    tls_ca (the EHR's CA, default: the system store), tls_cert/tls_key (a client certificate
    when the EHR asks for one) and tls_server_name (when it differs from the endpoint host)."""
    options = backend.options
    try:
        context = client_context(options.get("tls_ca"), certfile=options.get("tls_cert"),
                                 keyfile=options.get("tls_key"))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"backends.{backend.name}.options: TLS files unusable ({exc})") from None
    return context, str(options.get("tls_server_name", host))


class Hl7v2Backend:
    def __init__(self, backend: BackendSettings, profile: Profile) -> None:
        host, port, tls = _address(backend)
        self.backend, self.profile = backend, profile
        self.zone = ZoneInfo(str(backend.options.get("timezone", "UTC")))
        context, server_name = _tls(backend, host) if tls else (None, None)
        self.client = MllpClient(host, port,
                                 connect_timeout=float(backend.options.get("connect_timeout", 5)),
                                 read_timeout=float(backend.options.get("read_timeout", 30)),
                                 ssl_context=context, server_hostname=server_name)

    def _context(self, backend_ids=None, related=None, control_id: str | None = None) -> TranslateContext:
        return TranslateContext(now=datetime.now(self.zone), control_id=control_id or uuid.uuid4().hex[:20],
                                backend_ids=backend_ids or {}, related=related or {},
                                options=dict(self.backend.options))

    def _exchange(self, text: str) -> str:
        try:
            return self.client.send(text)
        except MllpProtocolError as exc:
            raise DeliveryUnavailable(self.backend.name, f"garbled reply from the EHR ({exc})") from None
        except MllpError as exc:
            state = "may have been received" if getattr(exc, "sent", True) else "was not sent"
            raise DeliveryUnavailable(self.backend.name, f"{type(exc).__name__}: the message {state}") from None

    def query(self, resource_type: str, params: list[tuple[str, str]]) -> QueryResult | None:
        """Ask the EHR (IHE PDQ QBP^Q22 -> RSP^K22) when the profile says it answers this
        search; None when it does not (the caller then answers from the mirror)."""
        options = dict(self.backend.options)
        if hl7v2_query.translatable(self.profile, resource_type, params, options) is None:
            return None
        ctx = self._context()
        message = hl7v2_query.build_query(self.profile, resource_type, params, ctx)
        reply = self._exchange(message.text)
        try:
            return hl7v2_query.read_response(self.profile, resource_type, reply, message.control_id, options)
        except TranslationError as exc:
            # A refused or unreadable answer: the EHR cannot answer now; never guess from it.
            raise DeliveryUnavailable(self.backend.name, f"query not answered: {exc}") from None

    def push(self, interaction: str, resource: dict, backend_ids, related, *,
             resend: bool = False) -> Delivered:
        # a resend needs nothing special: it carries the first try's MSH-10 (_control_id)
        ctx = self._context(backend_ids, related, _control_id(interaction, resource))
        try:
            message = hl7v2.render(self.profile, interaction, resource, ctx)
        except TranslationError as exc:
            raise DeliveryRefused(self.backend.name, f"cannot translate with {self.profile.key}: {exc}") from None
        try:
            ack = classify_ack(self._exchange(message.text), message.control_id)
        except MllpProtocolError as exc:
            raise DeliveryUnavailable(self.backend.name, f"garbled reply from the EHR ({exc})") from None
        if ack.kind == "permanent":
            raise DeliveryRefused(self.backend.name, f"{ack.code}: {ack.error_text or 'refused'}")
        if ack.kind == "retryable":
            raise DeliveryUnavailable(self.backend.name, f"{ack.code}: {ack.error_text or 'error'}")
        return Delivered(self.backend.name, message.backend_id, self.profile.key, ack.code)

    def close(self) -> None:
        self.client.close()


def _control_id(interaction: str, resource: dict) -> str:
    """MSH-10 for a write: the same for every try of the same change (the outbox retries, a
    write sent again after a timeout whose ACK was lost), so the EHR can recognise a resend
    (HL7 v2.5 2.10.1 original acknowledgment: the receiver detects duplicates by MSH-10)."""
    version = resource.get("meta", {}).get("versionId", "")
    key = f"{interaction}|{resource['resourceType']}/{resource.get('id', '')}|{version}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
