"""Z-segments (site-defined, HL7 v2.5.1 2.8): mapped, carried through, or reported. Pure.

May import: stdlib, translators.er7, translators.types. A profile's `z_segments` section lists
`mapped` ones (their fields have ordinary lines in `mappings`, so they read and write like any
segment) and `carried` ones (kept verbatim on the resource as an extension whose valueString is
the raw segment, and written back unchanged on the way out). Any other Z-segment is
"unclaimed": nothing in the FHIR result holds it, so callers must keep the raw message and
report it (the inbound log does; `profiles check` lists them for sample messages).
"""
from __future__ import annotations

from translators.er7 import Message, parse

CARRIED_URL = "https://fhir-gateway.dev/fhir/StructureDefinition/hl7v2-segment"


def _names(spec: dict, kind: str) -> set[str]:
    return set(spec.get("z_segments", {}).get(kind, []))


def carry_in(spec: dict, message: Message, resource: dict) -> None:
    """Append each carried Z-segment, as received, to the resource's extensions."""
    carried = _names(spec, "carried")
    if not carried:
        return
    d = message.delimiters
    for segment in message.segments:
        if segment[0] in carried:
            resource.setdefault("extension", []).append(
                {"url": CARRIED_URL, "valueString": d.field.join(segment)})


def carried_lines(spec: dict, resource: dict) -> list[str]:
    """The carried Z-segments to write back (only names the profile still carries)."""
    carried = _names(spec, "carried")
    lines = []
    for extension in resource.get("extension", []) if carried else []:
        value = extension.get("valueString", "") if isinstance(extension, dict) else ""
        if extension.get("url") == CARRIED_URL and value[:3] in carried:
            lines.append(value)
    return lines


def unclaimed(spec: dict, text: str) -> list[str]:
    """Names of the Z-segments in `text` that the profile neither maps nor carries."""
    claimed = _names(spec, "mapped") | _names(spec, "carried")
    found = []
    for segment in parse(text).segments:
        if segment[0].startswith("Z") and segment[0] not in claimed and segment[0] not in found:
            found.append(segment[0])
    return found
