"""ER7 text helpers for the sandbox v2 EHR: decode by MSH-18, parse, read fields, build replies.

May import: stdlib and python-hl7 (`hl7`): fast and tolerant, right for a test peer.
"""
from __future__ import annotations

import re

import hl7

# MSH-18 character set names (HL7 Table 0211) to Python codecs. "8859/1" messages are very
# often really Windows-1252, which is a superset for printable text, so it is decoded as such.
CHARSETS = {"": "utf-8", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "ASCII": "ascii",
            "8859/1": "cp1252", "8859/15": "iso8859-15", "WINDOWS-1252": "cp1252"}


class Er7Error(ValueError):
    """The payload is not a readable HL7 v2 message; `code` is from HL7 Table 0357."""

    def __init__(self, message: str, code: str = "100", location: str = "") -> None:
        super().__init__(message)
        self.code, self.location = code, location


def decode(payload: bytes) -> tuple[str, str]:
    """(text, codec): MSH-18 decides; an unknown or lying label falls back to UTF-8, then
    Windows-1252, then ISO 8859-1 (which accepts any byte), so no message is refused for it."""
    head = payload[:1024].decode("latin-1")
    label = ""
    if head.startswith("MSH") and len(head) > 4:
        first = re.split(r"[\r\n]", head, 1)[0].split(head[3])
        if len(first) > 17:  # MSH-n is first[n - 1]: MSH-1 is the separator itself
            label = first[17].split(head[4])[0].strip().upper()
    for codec in (CHARSETS.get(label, "utf-8"), "utf-8", "cp1252", "latin-1"):
        try:
            return payload.decode(codec), codec
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")


def parse(text: str) -> hl7.Message:
    """Parse with python-hl7 after normalising segment ends to CR (v2.5.1 section 2.5)."""
    text = re.sub(r"\r\n|\n", "\r", text.lstrip("\ufeff")).strip("\r")
    if not text.startswith("MSH") or len(text) < 8:
        raise Er7Error("message does not start with an MSH segment", "100", "MSH")
    try:
        return hl7.parse(text)
    except Exception as exc:  # python-hl7 raises assorted errors on broken input
        raise Er7Error(f"message cannot be parsed: {exc}", "102") from exc


def field(message: hl7.Message, path: str) -> str:
    """The unescaped value at an address such as "PID.3.1" or "MSH.9.2" ("" when absent).
    Addresses count components from 1 and read the first repetition."""
    parts = path.split(".")
    try:
        segment = message.segment(parts[0])
    except KeyError:
        return ""
    return value_in(segment, *[int(p) for p in parts[1:]])


def value_in(segment, field_no: int, component: int = 1, sub: int = 1,
             repetition: int = 1) -> str:
    """The unescaped value of one field/component/subcomponent of a python-hl7 segment
    ("" when absent; python-hl7 follows the first child when the tree is deeper)."""
    try:
        return segment.extract_field(None, field_no, repetition, component, sub)
    except (IndexError, KeyError):
        return ""


def repetitions(segment, field_no: int) -> int:
    """How many repetitions a field holds (0 when empty or absent)."""
    if len(segment) <= field_no or not str(segment[field_no]):
        return 0
    value = segment[field_no]
    return len(value) if value and isinstance(value[0], hl7.containers.Repetition) else 1
