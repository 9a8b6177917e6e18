"""Build the sandbox v2 EHR's replies: ACK/NAK (with ERR) and RSP^K22 for PDQ queries.

May import: stdlib only. Values are escaped per HL7 v2.5.1 section 2.7 before they are joined.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

SENDER = ("SANDBOX-EHR", "SANDBOX")

# HL7 Table 0357 (message error condition codes) used by the sandbox.
ERROR_TEXTS = {"100": "Segment sequence error", "101": "Required field missing",
               "102": "Data type error", "103": "Table value not found",
               "200": "Unsupported message type", "201": "Unsupported event code",
               "203": "Unsupported version id", "204": "Unknown key identifier",
               "205": "Duplicate key identifier", "207": "Application internal error"}


@dataclass(frozen=True)
class Header:
    """What a reply copies from the message it answers (defaults when MSH was unreadable)."""

    sending_app: str = ""
    sending_facility: str = ""
    trigger: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.5.1"


@dataclass(frozen=True)
class Refusal:
    """Why a message is not accepted: the Table 0357 code, where, and a human message."""

    code: str
    message: str
    location: str = ""  # "SEG^seq^field", e.g. "MSH^1^10"


def escape(value: str) -> str:
    """Escape delimiters in a value for the default encoding characters |^~\\&."""
    return (value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
            .replace("&", "\\T\\").replace("~", "\\R\\").replace("\r", "\\X0D\\")
            .replace("\n", "\\X0A\\"))


class ControlIds:
    """Control ids for the sandbox's own messages: unique within one run."""

    def __init__(self, prefix: str = "SBX") -> None:
        self._counter, self._lock, self.prefix = itertools.count(1), threading.Lock(), prefix

    def next(self) -> str:
        with self._lock:
            return f"{self.prefix}{next(self._counter):08d}"


def timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S+0000")


def msh(header: Header, message_type: str, control_id: str) -> str:
    return "|".join(["MSH", "^~\\&", SENDER[0], SENDER[1], escape(header.sending_app),
                     escape(header.sending_facility), timestamp(), "", message_type, control_id,
                     escape(header.processing_id or "P"), escape(header.version or "2.5.1")])


def err_segment(refusal: Refusal, severity: str = "E") -> str:
    """ERR with v2.5 fields (ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 user message)
    and ERR-1 for receivers that read the v2.3 layout (v2.5.1 section 2.15.5)."""
    text = ERROR_TEXTS.get(refusal.code, "Error")
    location = refusal.location
    eld = f"{location}^{refusal.code}&{text}&HL70357" if location else f"^^^{refusal.code}&{text}&HL70357"
    return "|".join(["ERR", eld, location, f"{refusal.code}^{text}^HL70357", severity, "", "", "",
                     escape(refusal.message)])


def ack(header: Header, code: str, control_id: str, refusal: Refusal | None = None) -> str:
    """ACK^<trigger>^ACK with MSA-1 `code` and MSA-2 = the answered MSH-10 (v2.5.1 2.9.2)."""
    segments = [msh(header, f"ACK^{escape(header.trigger)}^ACK", control_id),
                f"MSA|{code}|{escape(header.control_id)}"]
    if refusal is not None:
        segments.append(err_segment(refusal))
    return "\r".join(segments) + "\r"


def rsp_k22(header: Header, control_id: str, qpd_raw: str, query_tag: str, pids: list[str],
            refusal: Refusal | None = None) -> str:
    """RSP^K22 (IHE ITI TF-2a 3.21.4.2): MSA, [ERR], QAK (OK / NF / AE), the QPD echoed,
    then one PID per match."""
    if refusal is not None:
        status, msa = "AE", "AE"
    else:
        status, msa = ("OK" if pids else "NF"), "AA"
    segments = [msh(header, "RSP^K22^RSP_K21", control_id), f"MSA|{msa}|{escape(header.control_id)}"]
    if refusal is not None:
        segments.append(err_segment(refusal))
    segments.append(f"QAK|{escape(query_tag)}|{status}")
    segments.append(qpd_raw)
    segments.extend(pids)
    return "\r".join(segments) + "\r"


def pid_segment(index: int, patient: dict) -> str:
    """A PID for a stored patient (PID-3 MRN, -5 name, -7 birth date, -8 sex, -11, -13)."""
    e = lambda key: escape(patient.get(key) or "")  # noqa: E731
    mrn = f"{e('mrn')}^^^{e('assigning_authority')}^MR"
    name = f"{e('family')}^{e('given')}^{e('middle')}"
    address = f"{e('street')}^^{e('city')}^{e('state')}^{e('zip')}^{e('country')}"
    fields = ["PID", str(index), "", mrn, "", name, "", e("birth_date"), e("sex"), "", "",
              address, "", e("phone")]
    return "|".join(fields).rstrip("^|")
