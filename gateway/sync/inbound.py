"""The inbound MLLP listener's handler: record raw, translate, apply to the mirror, ACK.

May import: gateway.settings, gateway.transports, translators, stdlib. The service side is
injected (`applier`), so this module stays below the services layer. ACK codes (HL7 v2.5.1
2.9.2): AA applied; AR the message can never be applied as sent (undecodable, malformed, not
mapped, invalid FHIR); AE it may succeed later (unknown patient, store busy). Logs carry the
control id and message type only, never the message (PHI). A merge (ADT^A40) goes to the
applier's `merge`; a message type the profile does not claim is answered AR "unsupported
message type". Z-segments the profile does not claim are named in the raw record's detail.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone

from gateway.settings import BackendSettings
from translators.ack import build_ack, decode_message
from translators.dialects import hl7v2, hl7v2_merge, hl7v2_zsegments
from translators.er7 import parse
from translators.types import Profile, TranslationError

log = logging.getLogger("gateway.sync.inbound")


def _backend_id(resource: dict) -> str:
    """The id the backend knows the resource by (MRN, placer id, TXA-12 document number)."""
    identifiers = resource.get("identifier") or [resource.get("masterIdentifier") or {}]
    value = str(identifiers[0].get("value", ""))
    if not value:  # without it, a later message could not find this resource again
        raise TranslationError("identifier", f"the {resource['resourceType']} carries no identifier "
                               "the backend knows it by")
    return value


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
            _rtype, interaction = hl7v2.claimed(self.profile, message)
            if interaction == "merge":
                return self._merge(text, pk, own_id, now)
            _type, resource = hl7v2.read(self.profile, text, self.options)
            applied = self.applier.apply(self.backend.name, self.profile.key, resource, _backend_id(resource))
        except TranslationError as exc:
            self.applier.finish(pk, "refused", str(exc))
            # ERR-3 (table 0357): 200 unsupported message type, 207 application internal error
            return self._reply(text, "AR", own_id, now, "200" if exc.where == "MSH-9" else "207", str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure must still be ACKed
            status = getattr(exc, "status", 500)
            if status == 404:  # an unknown patient may be registered later: AE, 204 unknown key
                code, ack = "204", "AE"
            else:
                code, ack = ("207", "AR") if status in (400, 422) else ("206", "AE")
            detail = getattr(exc, "diagnostics", type(exc).__name__)
            self.applier.finish(pk, "failed" if ack == "AE" else "refused", detail)
            log.warning("inbound %s %s from %s: %s (%s)", message_type, control_id,
                        self.backend.name, ack, type(exc).__name__)
            return self._reply(text, ack, own_id, now, code, detail)
        detail = ("created" if applied.created else "updated") + self._unclaimed(text)
        self.applier.finish(pk, "applied", detail, applied.reference)
        return self._reply(text, "AA", own_id, now)

    def _merge(self, text: str, pk: int, own_id: str, now: str) -> bytes:
        """ADT^A40: each PID/MRG pair applied in order by the applier, which refuses (and
        changes nothing) when either patient is unknown; TranslationError/FhirError propagate
        to the caller's ACK mapping."""
        instructions = hl7v2_merge.read_merges(self.profile, text, self.options)
        references = self.applier.merge(self.backend.name, self.profile.key, instructions)
        self.applier.finish(pk, "applied", "merged" + self._unclaimed(text), ", ".join(references))
        return self._reply(text, "AA", own_id, now)

    def _unclaimed(self, text: str) -> str:
        """Z-segments the profile neither maps nor carries: kept only on this raw record."""
        names = hl7v2_zsegments.unclaimed(self.profile.data.get("hl7v2", {}), text)
        return f"; unmapped Z-segments kept on the raw record only: {', '.join(names)}" if names else ""

    @staticmethod
    def _reply(received: str, code: str, own_id: str, now: str, error_code: str = "",
               error_text: str = "") -> bytes:
        return build_ack(received, code, own_id, now, error_code=error_code,
                         error_text=error_text).encode("utf-8")
