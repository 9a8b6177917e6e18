"""Classify an HL7 v2 acknowledgment: what the receiver said about the message we sent.

May import: stdlib only. This is a deliberately minimal ER7 reader (MSH delimiters, MSA, ERR)
so that the transport does not depend on the translators; it is pure (no I/O).
Acknowledgment codes are HL7 Table 0008 (v2.5.1 section 2.15.8, MSA-1): AA/CA accepted,
AE/CE error (the sender may try again), AR/CR rejected (trying again will not help).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.transports.mllp_errors import MllpProtocolError

_KINDS = {"AA": "delivered", "CA": "delivered", "AE": "retryable", "CE": "retryable",
          "AR": "permanent", "CR": "permanent"}


@dataclass(frozen=True)
class AckResult:
    """MSA-1 code, MSA-2 control id, the receiver's error text (ERR and MSA-3), and the kind:
    "delivered", "retryable" or "permanent"."""

    code: str
    control_id: str
    error_text: str
    kind: str

    @property
    def delivered(self) -> bool:
        return self.kind == "delivered"


@dataclass(frozen=True)
class _Delimiters:
    field: str
    component: str
    repetition: str
    escape: str
    subcomponent: str


def _delimiters(msh: str) -> _Delimiters:
    # MSH-1 is the character after "MSH"; MSH-2 holds component, repetition, escape and
    # subcomponent characters in that order (v2.5.1 section 2.14.9.1-2).
    if len(msh) < 8 or not msh.startswith("MSH"):
        raise MllpProtocolError(f"reply does not start with an MSH segment: {msh[:20]!r}", sent=True)
    fs = msh[3]
    enc = msh[4:].split(fs, 1)[0]
    if len(enc) < 4 or fs in enc:
        raise MllpProtocolError(f"reply MSH-2 encoding characters are invalid: {enc!r}", sent=True)
    return _Delimiters(fs, enc[0], enc[1], enc[2], enc[3])


def _unescape(value: str, d: _Delimiters) -> str:
    # Escape sequences of v2.5.1 section 2.7: \F\ \S\ \T\ \R\ \E\; others are left as written.
    if d.escape not in value:
        return value
    table = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": d.escape}
    esc = re.escape(d.escape)
    return re.sub(f"{esc}([FSTRE]){esc}", lambda m: table[m.group(1)], value)


def _segments(text: str) -> list[str]:
    # Segments end with CR (v2.5.1 section 2.5); LF and CRLF are tolerated because they are common.
    return [s for s in re.split(r"\r\n|\r|\n", text) if s.strip()]


def _component(field: str, d: _Delimiters, index: int, sub: int | None = None) -> str:
    parts = field.split(d.repetition, 1)[0].split(d.component)
    value = parts[index - 1] if len(parts) >= index else ""
    if sub is not None:
        subs = value.split(d.subcomponent)
        value = subs[sub - 1] if len(subs) >= sub else ""
    return _unescape(value, d)


def _err_text(fields: list[str], d: _Delimiters) -> str:
    """One ERR segment as text: the user message (ERR-8) or diagnostics (ERR-7), with the
    HL7 error code text (ERR-3, CWE) or, for v2.3-style ERR, ERR-1.4 (CE in subcomponents)."""
    get = lambda n: fields[n] if len(fields) > n else ""  # noqa: E731
    message = _unescape(get(8), d) or _unescape(get(7), d)
    code = _component(get(3), d, 2) or _component(get(3), d, 1)
    if not code:
        code = _component(get(1), d, 4, 2) or _component(get(1), d, 4, 1)
    if message and code and code not in message:
        return f"{message} ({code})"
    return message or code


def classify_ack(reply_text: str, expected_control_id: str | None = None) -> AckResult:
    """Classify an ACK (or any reply carrying MSA). Raises MllpProtocolError when the reply
    is not an HL7 message with an MSA segment, carries an unknown MSA-1 code, or acknowledges
    another message than `expected_control_id`."""
    segments = _segments(reply_text.lstrip("\ufeff"))
    if not segments:
        raise MllpProtocolError("empty reply", sent=True)
    d = _delimiters(segments[0])
    msa, errors = None, []
    for segment in segments[1:]:
        fields = segment.split(d.field)
        if fields[0] == "MSA" and msa is None:
            msa = fields
        elif fields[0] == "ERR":
            errors.append(_err_text(fields, d))
    if msa is None:
        raise MllpProtocolError("reply has no MSA segment", sent=True)
    code = msa[1].strip().upper() if len(msa) > 1 else ""
    if code not in _KINDS:
        raise MllpProtocolError(f"reply MSA-1 {code!r} is not an acknowledgment code", sent=True)
    control_id = _unescape(msa[2], d) if len(msa) > 2 else ""
    if expected_control_id is not None and control_id != expected_control_id:
        raise MllpProtocolError(
            f"reply acknowledges control id {control_id!r}, not {expected_control_id!r}", sent=True)
    texts = [t for t in errors if t]
    msa_text = _unescape(msa[3], d) if len(msa) > 3 else ""
    if msa_text and not any(msa_text in t for t in texts):
        texts.append(msa_text)
    return AckResult(code, control_id, "; ".join(texts), _KINDS[code])
