"""Building HL7 v2 acknowledgements and decoding inbound bytes. Pure.

May import: stdlib, translators.er7, translators.types. ACK (HL7 v2.5.1 2.9.2, 2.14.5 ERR):
MSA-1 AA/AE/AR, MSA-2 = the acknowledged MSH-10; an ERR segment carries the reason (ERR-3
error code from table 0357, ERR-4 severity, ERR-8 user message). Character sets (MSH-18):
UTF-8, ISO 8859-1 — and "8859/1" labels that really hold Windows-1252 bytes are read as
cp1252, a superset that decodes them both — with a per-backend override for lying senders.
"""
from __future__ import annotations

import re

from translators.er7 import Delimiters, escape
from translators.types import TranslationError

_CHARSETS = {"UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "8859/1": "cp1252", "ISO-8859-1": "cp1252",
             "ASCII": "ascii", "": "utf-8"}


def decode_message(raw: bytes, override: str | None = None) -> str:
    """Text of an inbound message, honouring MSH-18 unless the backend config overrides it."""
    if override:
        return raw.decode(override)
    head = raw[:512].split(b"\r", 1)[0].split(b"\n", 1)[0]
    label = ""
    if head.startswith(b"MSH") and len(head) > 3:
        fields = head.split(head[3:4])
        label = fields[17].decode("ascii", "replace").split("^")[0].strip() if len(fields) > 17 else ""
    codec = _CHARSETS.get(label.upper())
    if codec is None:
        raise TranslationError("MSH-18", f"unsupported character set {label!r}")
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise TranslationError("MSH-18", f"bytes are not valid {label or 'UTF-8'}: {exc.reason}") from None


def _header(text: str) -> tuple[Delimiters, list[str]]:
    text = text.lstrip("\ufeff\x0b")
    if not text.startswith("MSH") or len(text) < 8:
        return Delimiters(), []
    d = Delimiters(text[3], text[4], text[5], text[6], text[7])
    return d, re.split(r"\r\n|\r|\n", text, maxsplit=1)[0].split(d.field)


def build_ack(received: str, code: str, control_id: str, now: str, *, error_code: str = "",
              error_text: str = "", app: str = "FHIR-GATEWAY", facility: str = "GATEWAY") -> str:
    """The ACK for a received message (its own delimiters when they are readable)."""
    d, msh = _header(received)
    get = lambda i: msh[i] if len(msh) > i else ""  # noqa: E731 - MSH-n is msh[n-1]
    trigger = get(8).split(d.component)[1] if d.component in get(8) else ""
    version = get(11) or "2.5.1"
    lines = [d.field.join(["MSH", d.encoding, app, facility, get(2), get(3), now, "",
                           f"ACK{d.component}{trigger}{d.component}ACK", control_id, "P", version]),
             d.field.join(["MSA", code, get(9)])]
    if error_text:
        severity = "E" if code in ("AE", "AR") else "W"
        lines.append(d.field.join(["ERR", "", "", f"{error_code or '207'}", severity, "", "", "",
                                   escape(error_text[:200], d)]))
    return "\r".join(lines) + "\r"
