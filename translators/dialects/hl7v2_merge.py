"""Inbound patient merges: ADT^A40 -> MergeInstruction(s). Pure.

May import: stdlib, translators.*. HL7 v2.5.1 3.3.40 (A40 merge patient - patient identifier
list): each PID/MRG pair says "the patient in MRG-1 is merged into the one in PID-3"; PID-3 is
the survivor. One message may carry several pairs. The instruction carries identifiers only:
the applier must find both patients, and refuse (never guess) when either is unknown.
"""
from __future__ import annotations

from translators.dialects.hl7v2 import _read_resource, _spec, claimed
from translators.er7 import Message, parse
from translators.types import MergeInstruction, Profile, TranslationError


def read_merges(profile: Profile, text: str, options: dict | None = None) -> list[MergeInstruction]:
    """The merge instructions of an A40 the profile claims, in message order."""
    spec, options = _spec(profile), options or {}
    message = parse(text)
    rtype, interaction = claimed(profile, message)
    if interaction != "merge":
        raise TranslationError("MSH-9", f"{message.get('MSH-9.1')}^{message.get('MSH-9.2')} is not a merge")
    rule = spec["merge"]
    mrg_name = rule["v2"].split("-")[0]
    msh = message.segments[0]
    pairs, pid = [], None
    for segment in message.segments[1:]:
        if segment[0] == "PID":
            pid = segment
        elif segment[0] == mrg_name:
            if pid is None:
                raise TranslationError(mrg_name, "MRG without the PID of the surviving patient")
            pairs.append((pid, segment))
            pid = None
    if not pairs:
        raise TranslationError(mrg_name, "A40 without a PID/MRG pair")
    out = []
    for pid, mrg in pairs:
        sub = Message(message.delimiters, [msh, pid, mrg])
        merged = sub.get(rule["v2"] + ".1")
        if not merged:
            raise TranslationError(rule["v2"], "the merged (prior) patient identifier is empty")
        survivor = _read_resource(spec, rtype, sub, options)
        if survivor["identifier"][0]["value"] == merged:
            raise TranslationError(rule["v2"], "PID-3 and MRG-1 name the same patient")
        system = options.get("mrn_system", spec["mrn"].get("default_system"))
        out.append(MergeInstruction(survivor, {"system": system, "value": merged}))
    return out
