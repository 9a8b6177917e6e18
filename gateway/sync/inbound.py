"""The inbound MLLP listener's handler: record raw, translate, apply to the mirror, ACK.

May import: gateway.settings, gateway.transports, translators, stdlib. The service side is
injected (`applier`), so this module stays below the services layer. ACK codes (HL7 v2.5.1
2.9.2): AA applied; AR the message can never be applied as sent (undecodable, malformed, not
mapped, invalid FHIR); AE it may succeed later (unknown patient, store busy). Logs carry the
control id and message type only, never the message (PHI).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone

from gateway.settings import BackendSettings
from translators.ack import build_ack, decode_message
from translators.dialects import hl7v2
from translators.er7 import parse
from translators.types import Profile, TranslationError

log = logging.getLogger("gateway.sync.inbound")


def _backend_id(resource: dict) -> str:
    identifiers = resource.get("identifier") or [{}]
    return str(identifiers[0].get("value", ""))


class InboundHandler:
    def __init__(self, backend: BackendSettings, profile: Profile, applier) -> None:
        self.backend, self.profile, self.applier = backend, profile, applier
        self.options = dict(backend.options)

    def __call__(self, payload: bytes) -> bytes:
        now = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S+0000")
        own_id = uuid.uuid4().hex[:20]
        try:
            text = decode_message(payload, self.options.get("charset_override"))
        except TranslationError as exc:
            return self._reply("", "AR", own_id, now, "103", str(exc))
        header = text.split("\r", 1)[0].split("\n", 1)[0]
        try:
            message = parse(text)
            control_id, message_type = message.get("MSH-10"), message.get("MSH-9.1") + "^" + message.get("MSH-9.2")
        except TranslationError as exc:
            return self._reply(header, "AR", own_id, now, "102", str(exc))
        pk = self.applier.record_raw(self.backend.name, control_id, message_type, text)
        try:
            _type, resource = hl7v2.read(self.profile, text, self.options)
            applied = self.applier.apply(self.backend.name, self.profile.key, resource, _backend_id(resource))
        except TranslationError as exc:
            self.applier.finish(pk, "refused", str(exc))
            return self._reply(text, "AR", own_id, now, "207", str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure must still be ACKed
            code, ack = ("422", "AR") if getattr(exc, "status", 500) in (400, 422) else ("", "AE")
            detail = getattr(exc, "diagnostics", type(exc).__name__)
            self.applier.finish(pk, "failed" if ack == "AE" else "refused", detail)
            log.warning("inbound %s %s from %s: %s (%s)", message_type, control_id,
                        self.backend.name, ack, type(exc).__name__)
            return self._reply(text, ack, own_id, now, "207" if code else "206", detail)
        self.applier.finish(pk, "applied", "created" if applied.created else "updated", applied.reference)
        return self._reply(text, "AA", own_id, now)

    @staticmethod
    def _reply(received: str, code: str, own_id: str, now: str, error_code: str = "",
               error_text: str = "") -> bytes:
        return build_ack(received, code, own_id, now, error_code=error_code,
                         error_text=error_text).encode("utf-8")
