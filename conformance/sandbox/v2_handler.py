"""The sandbox v2 EHR's message handler: one MLLP payload in, one reply out (or a fault).

May import: stdlib, gateway.transports (RawReply) and the sibling sandbox modules.
Every received message is stored with the ACK code it got. Acknowledgment follows HL7 v2.5.1
section 2.9.2 (original mode): AA when applied, AE when refused by an application rule that a
later retry could pass, AR when the message itself is unacceptable.
"""
from __future__ import annotations

import logging
import re
import time

from conformance.sandbox import er7, v2_query, v2_rules
from conformance.sandbox.faults import Fault, FaultPlan
from conformance.sandbox.v2_replies import ControlIds, Header, Refusal, ack
from conformance.sandbox.v2_store import V2Store
from gateway.transports.mllp_server import RawReply

log = logging.getLogger(__name__)

V2_FAULT_MODES = ("nak-ae", "nak-ar", "drop", "slow", "garbled")
SUPPORTED_VERSIONS = {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8",
                      "2.8.1", "2.8.2", "2.9"}


def header_from_text(text: str) -> Header:
    """A best-effort reply header read straight from the first line, even from a message
    python-hl7 cannot parse (so that a NAK can still echo MSH-10)."""
    first = re.split(r"\r\n|\r|\n", text.lstrip("\ufeff"), 1)[0]
    if not first.startswith("MSH") or len(first) < 8:
        return Header()
    fields = first.split(first[3])
    component = first[4]
    get = lambda n: fields[n - 1] if len(fields) >= n else ""  # noqa: E731 (MSH-n = fields[n-1])
    trigger = get(9).split(component)
    return Header(get(3).split(component)[0], get(4).split(component)[0],
                  trigger[1] if len(trigger) > 1 else "", get(10).strip(), get(11) or "P",
                  get(12).split(component)[0] or "2.5.1")


class V2Handler:
    """Callable for MllpServer: `handler(payload) -> reply bytes | RawReply | None`."""

    def __init__(self, store: V2Store, faults: FaultPlan, control_ids: ControlIds | None = None) -> None:
        self.store, self.faults = store, faults
        self.control_ids = control_ids or ControlIds()

    def __call__(self, payload: bytes):
        fault = self.faults.take()
        text, charset = er7.decode(payload)
        header = header_from_text(text)
        message_type = _message_type(text)
        message_id = self.store.add_message(message_type, header.control_id, charset, text)
        if fault is not None and fault.mode != "slow":
            return self._faulted(fault, header, message_id, charset)
        if fault is not None:
            time.sleep(fault.delay)  # "slow": answer normally, but late
        reply, code, error = self._process(text, header)
        self.store.set_ack(message_id, code, error)
        return reply.encode(charset, errors="replace")

    def _process(self, text: str, header: Header) -> tuple[str, str, str]:
        """(reply text, ack code, error text) for one decoded message."""
        control_id = self.control_ids.next()
        try:
            message = self._check(text, header)
            code_, _, trigger = _message_type(text).partition("^")
            if code_ == "QBP" and trigger == "Q22":
                return v2_query.answer(message, header, control_id, self.store)
            v2_rules.apply(message, code_, trigger, header.control_id, self.store)
        except v2_rules.Refused as exc:
            return ack(header, exc.ack_code, control_id, exc.refusal), exc.ack_code, exc.refusal.message
        except Exception:  # a sandbox bug answers AR 207 instead of killing the connection
            log.exception("sandbox v2 EHR: failed to process message %s", header.control_id)
            refusal = Refusal("207", "sandbox internal error")
            return ack(header, "AR", control_id, refusal), "AR", refusal.message
        return ack(header, "AA", control_id), "AA", ""

    def _check(self, text: str, header: Header):
        try:
            message = er7.parse(text)
        except er7.Er7Error as exc:
            raise v2_rules.Refused("AR", Refusal(exc.code, str(exc), exc.location)) from exc
        if not header.control_id:
            raise v2_rules.Refused("AR", Refusal("101", "MSH-10 message control id is empty",
                                                 "MSH^1^10"))
        version = er7.field(message, "MSH.12.1")
        if version not in SUPPORTED_VERSIONS:
            raise v2_rules.Refused("AR", Refusal("203", f"HL7 version {version!r} is not supported",
                                                 "MSH^1^12"))
        return message

    def _faulted(self, fault: Fault, header: Header, message_id: int, charset: str):
        if fault.mode in ("nak-ae", "nak-ar"):
            code = "AE" if fault.mode == "nak-ae" else "AR"
            text = fault.text or f"sandbox fault: {code}"
            reply = ack(header, code, self.control_ids.next(), Refusal("207", text))
            self.store.set_ack(message_id, code, text)
            return reply.encode(charset, errors="replace")
        if fault.mode == "drop":
            self.store.set_ack(message_id, None, "sandbox fault: connection dropped, no ACK")
            return None
        # "garbled": bytes outside any frame, then a frame that never ends, then close.
        self.store.set_ack(message_id, None, "sandbox fault: garbled reply")
        return RawReply(b"GARBLED\x00\xff\x0bMSH|^~\\&|SANDBOX|", close=True)


def _message_type(text: str) -> str:
    """MSH-9.1^MSH-9.2 ("ADT^A04"), "" when MSH is unreadable."""
    first = re.split(r"\r\n|\r|\n", text.lstrip("\ufeff"), 1)[0]
    if not first.startswith("MSH") or len(first) < 8:
        return ""
    fields = first.split(first[3])
    parts = fields[8].split(first[4]) if len(fields) > 8 else [""]
    return "^".join(p for p in parts[:2] if p)
