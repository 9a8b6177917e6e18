"""HL7 v2 ER7 ("pipe and hat") text: delimiters, escaping, parsing and building. Pure.

May import: stdlib only. A lean reader/writer for the hot path (HL7 v2.5.1 chapter 2.5-2.7):
the message's own delimiters from MSH-1/MSH-2, escape sequences \\F\\ \\S\\ \\T\\ \\R\\ \\E\\,
repetitions. Addresses look like "PID-5.2" (segment-field.component, 1-based, MSH-1 = the
field separator itself, as the standard counts).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from translators.types import TranslationError

_ADDRESS = re.compile(r"^([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


@dataclass(frozen=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent


def escape(text: str, d: Delimiters) -> str:
    e = d.escape
    out = text.replace(e, f"{e}E{e}")
    for char, code in ((d.field, "F"), (d.component, "S"), (d.subcomponent, "T"), (d.repetition, "R")):
        out = out.replace(char, f"{e}{code}{e}")
    return out.replace("\r", f"{e}X0D{e}").replace("\n", f"{e}X0A{e}")


def unescape(text: str, d: Delimiters) -> str:
    if d.escape not in text:
        return text
    e = re.escape(d.escape)
    table = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": d.escape}

    def repl(match: re.Match) -> str:
        code = match.group(1)
        if code in table:
            return table[code]
        if code.startswith("X") and len(code) > 1:
            try:
                return bytes.fromhex(code[1:]).decode("latin-1")
            except ValueError:
                return match.group(0)
        return match.group(0)  # formatting escapes (\.br\ etc.) are kept as written
    return re.sub(f"{e}([^{e}]*){e}", repl, text)


def parse_address(address: str) -> tuple[str, int, int, int]:
    match = _ADDRESS.match(address)
    if not match:
        raise TranslationError(address, "not an HL7 address like PID-5.2")
    seg, fld, comp, sub = match.groups()
    return seg, int(fld), int(comp or 1), int(sub or 1)


@dataclass
class Message:
    """A parsed message: segments as lists of raw (still escaped) fields; fields[0] = name."""

    delimiters: Delimiters
    segments: list[list[str]]

    def segment(self, name: str, occurrence: int = 0) -> list[str] | None:
        found = [s for s in self.segments if s[0] == name]
        return found[occurrence] if occurrence < len(found) else None

    def raw_field(self, name: str, number: int) -> str:
        seg = self.segment(name)
        if seg is None:
            return ""
        if name == "MSH":  # MSH-1 is the separator itself, so MSH fields shift by one
            if number == 1:
                return self.delimiters.field
            number -= 1
        return seg[number] if number < len(seg) else ""

    def repetitions(self, address: str) -> list[str]:
        """Unescaped values of every repetition of the addressed component."""
        seg, fld, comp, sub = parse_address(address)
        raw = self.raw_field(seg, fld)
        d = self.delimiters
        if seg == "MSH" and fld == 2:
            return [raw]
        out = []
        for rep in raw.split(d.repetition) if raw else []:
            parts = rep.split(d.component)
            value = parts[comp - 1] if comp - 1 < len(parts) else ""
            subs = value.split(d.subcomponent)
            value = subs[sub - 1] if sub - 1 < len(subs) else ""
            out.append(unescape(value, d))
        return out

    def get(self, address: str) -> str:
        values = self.repetitions(address)
        return values[0] if values else ""


def parse(text: str) -> Message:
    """Parse ER7 text; TranslationError for a missing or malformed MSH."""
    text = text.lstrip("\ufeff\x0b").rstrip("\x1c\r\n")  # BOM and MLLP bytes tolerated
    if not text.startswith("MSH") or len(text) < 8:
        raise TranslationError("MSH", "message does not start with a valid MSH segment")
    sep = text[3]
    enc = text[4:8]
    if sep.isalnum() or len(set(enc + sep)) != 5 or any(c.isalnum() for c in enc):
        raise TranslationError("MSH-2", f"invalid delimiters {sep + enc!r} in MSH-1/MSH-2")
    d = Delimiters(sep, enc[0], enc[1], enc[2], enc[3])
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    segments = []
    for line in lines:
        fields = line.split(sep)
        if not re.match(r"^[A-Z][A-Z0-9]{2}$", fields[0]):
            raise TranslationError(fields[0][:10], "not a segment name")
        segments.append(fields)
    return Message(d, segments)


@dataclass
class SegmentBuilder:
    """Builds one segment field by field; values are escaped when set."""

    name: str
    fields: dict[int, dict[int, str]] = field(default_factory=dict)

    def set(self, number: int, component: int, value: str, d: Delimiters) -> None:
        self.fields.setdefault(number, {})[component] = escape(value, d)

    def set_raw(self, number: int, component: int, raw: str) -> None:
        self.fields.setdefault(number, {})[component] = raw

    def render(self, d: Delimiters) -> str:
        if not self.fields:
            return self.name
        width = max(self.fields)
        out = [self.name]
        for number in range(1, width + 1):
            comps = self.fields.get(number, {})
            if not comps:
                out.append("")
                continue
            out.append(d.component.join(comps.get(i, "") for i in range(1, max(comps) + 1)))
        return d.field.join(out)
