"""The HL7 v2 dialect: FHIR resource <-> ER7 message, driven by a profile's `hl7v2` section. Pure.

May import: stdlib, translators.*. Field mappings are data (profile), the logic here is generic:
MSH/EVN from the context, the identifier the EHR knows the resource by (MRN in PID-3 with the
configured assigning authority), constants, then `fhir path <-> SEG-field.component` lines with
value maps and named transforms. Spec: HL7 v2.5.1 ch. 2 (MSH), 3 (ADT, PID, EVN, PV1, MRG),
9 (MDM, TXA), 10 (SIU). Documents (OBX ED), Z-segments, merges and PDQ queries live in the
sibling hl7v2_* modules.
"""
from __future__ import annotations

from translators.dialects import hl7v2_documents, hl7v2_zsegments
from translators.er7 import Delimiters, Message, SegmentBuilder, parse, parse_address
from translators.paths import get_path, set_path
from translators.transforms import TO_FHIR, TO_V2
from translators.types import Hl7v2Message, Profile, TranslateContext, TranslationError



def _spec(profile: Profile) -> dict:
    spec = profile.data.get("hl7v2")
    if not isinstance(spec, dict):
        raise TranslationError(profile.key, "profile has no hl7v2 section")
    return spec


def _msh(builder: SegmentBuilder, msg: dict, ctx: TranslateContext, version: str, d: Delimiters) -> None:
    opts = ctx.options
    for number, value in ((3, opts.get("sending_application", "FHIR-GATEWAY")),
                          (4, opts.get("sending_facility", "GATEWAY")),
                          (5, opts.get("receiving_application", "EHR")),
                          (6, opts.get("receiving_facility", "CLINIC")),
                          (7, _timestamp(ctx)), (10, ctx.control_id), (11, "P"), (12, version),
                          (18, "UNICODE UTF-8")):
        builder.set(number, 1, value, d)
    builder.set(9, 1, msg["code"], d)
    builder.set(9, 2, msg["event"], d)
    builder.set(9, 3, msg["structure"], d)


def _timestamp(ctx: TranslateContext) -> str:
    return ctx.now.strftime("%Y%m%d%H%M%S%z")


def _render_msh(builder: SegmentBuilder, d: Delimiters) -> str:
    # MSH-1 is the field separator and MSH-2 the encoding characters: both written raw.
    rest = builder.render(d).split(d.field)[1:]  # fields numbered from MSH-1
    return "MSH" + d.field + d.encoding + d.field + d.field.join(rest[2:])


def _event(msg: dict, interaction: str, resource: dict, ctx: TranslateContext) -> str:
    """The trigger event: by the new status first (cancel, no-show), then by what changed
    since the version the backend last saw (`ctx.related[(type, id)]`), else the default."""
    if interaction != "update":
        return msg["event"]
    if resource.get("status") in msg.get("by_status", {}):
        return msg["by_status"][resource["status"]]
    change = msg.get("by_change")
    previous = ctx.related.get((resource.get("resourceType"), resource.get("id")))
    if change and previous is not None and any(
            get_path(previous, path) != get_path(resource, path) for path in change["paths"]):
        return change["event"]
    return msg["event"]


def _write_merged_id(spec: dict, resource: dict, builders, ctx: TranslateContext, d: Delimiters) -> None:
    """MRG-1 of an A40 (v2.5.1 3.3.40): the backend id of the Patient the survivor replaces."""
    rule = spec.get("merge")
    other = get_path(resource, rule["fhir"]) if rule else None
    reference = str((other or {}).get("reference", ""))
    if not reference.startswith("Patient/"):
        raise TranslationError(rule["fhir"] if rule else "merge",
                               "a merge needs Patient.link (type replaces) to the merged Patient")
    mrn = ctx.backend_ids.get(("Patient", reference.split("/", 1)[1]))
    if mrn is None:
        raise TranslationError(rule["fhir"], f"{reference} is not known to this backend")
    seg, fld, _c, _s = parse_address(rule["v2"])
    builders[seg].set(fld, 1, mrn, d)
    builders[seg].set(fld, 4, ctx.options.get("assigning_authority", spec["mrn"].get("authority", "")), d)
    builders[seg].set(fld, 5, "MR", d)


def _mrn(resource: dict, spec: dict, ctx: TranslateContext) -> str:
    """The id the EHR knows this resource by: its MR identifier, else a gateway-assigned one."""
    system = ctx.options.get("mrn_system", spec.get("mrn", {}).get("default_system", ""))
    for identifier in resource.get("identifier", []):
        if identifier.get("system") == system and identifier.get("value"):
            return identifier["value"]
    known = ctx.backend_ids.get((resource["resourceType"], resource.get("id", "")))
    return known or resource["id"]


def render(profile: Profile, interaction: str, resource: dict, ctx: TranslateContext) -> Hl7v2Message:
    """The message for a FHIR interaction on `resource` (e.g. Patient create -> ADT^A04)."""
    spec, rtype = _spec(profile), resource.get("resourceType")
    msg = spec.get("messages", {}).get(rtype, {}).get(interaction)
    if msg is None:
        raise TranslationError(f"{rtype}.{interaction}", f"profile {profile.key} has no message for it")
    d = Delimiters()
    msg = dict(msg, event=_event(msg, interaction, resource, ctx))
    # `segments` names a segment list when it differs from the HL7 structure (MSH-9.3)
    builders = {name: SegmentBuilder(name) for name in spec["structures"][msg.get("segments", msg["structure"])]}
    _msh(builders["MSH"], msg, ctx, profile.backend_version, d)
    if "EVN" in builders:
        builders["EVN"].set(1, 1, msg["event"], d)
        builders["EVN"].set(2, 1, _timestamp(ctx), d)
    for constant in spec.get("constants", []):
        seg, fld, comp, _sub = parse_address(constant["v2"])
        if seg in builders:
            builders[seg].set(fld, comp, constant["value"], d)
    backend_id = None
    if "mrn" in spec and rtype == "Patient":
        backend_id = _mrn(resource, spec, ctx)
        seg, fld, _c, _s = parse_address(spec["mrn"]["v2"])
        builders[seg].set(fld, 1, backend_id, d)
        builders[seg].set(fld, 4, ctx.options.get("assigning_authority", spec["mrn"].get("authority", "")), d)
        builders[seg].set(fld, 5, "MR", d)
    if "placer" in spec and parse_address(spec["placer"]["v2"])[0] in builders:
        seg, fld, _c, _s = parse_address(spec["placer"]["v2"])
        backend_id = resource["id"]  # the gateway places the order: its id is the placer id
        builders[seg].set(fld, 1, backend_id, d)
        builders[seg].set(fld, 2, ctx.options.get("sending_application", "FHIR-GATEWAY"), d)
    if rtype in spec.get("patient_ref", {}):
        _write_patient_ref(spec, spec["patient_ref"][rtype], resource, builders, ctx, d)
    if interaction == "merge":
        _write_merged_id(spec, resource, builders, ctx, d)
    written = _write_fields(spec, rtype, resource, builders, ctx, d)
    lines = _segment_lines(spec, resource, builders, written, ctx, d)
    message_type = f"{msg['code']}^{msg['event']}^{msg['structure']}"
    return Hl7v2Message("\r".join(lines) + "\r", message_type, ctx.control_id, backend_id)


def _segment_lines(spec, resource, builders, written, ctx, d) -> list[str]:
    """The message's segments in structure order: optional ones (NK1, IN1...) only when a
    mapping put data in them, the document's OBX from its attachment, carried Z-segments last."""
    skip = set(spec.get("optional_segments", [])) - written
    rule = spec.get("attachments", {}).get(resource["resourceType"])
    lines = [_render_msh(builders["MSH"], d)]
    for name, builder in builders.items():
        if name == "OBX" and rule is not None:
            lines += hl7v2_documents.render_obx(rule, get_path(resource, rule["fhir"]), ctx, d)
        elif name != "MSH" and name not in skip:
            lines.append(builder.render(d))
    return lines + hl7v2_zsegments.carried_lines(spec, resource)


def _patient_ids(resource: dict, path: str) -> list[str]:
    """Local ids of the Patients referenced at `path` (e.g. participant.actor)."""
    current = [resource]
    for step in path.split("."):
        nxt = []
        for item in current:
            value = item.get(step) if isinstance(item, dict) else None
            nxt.extend(value if isinstance(value, list) else [value] if value is not None else [])
        current = nxt
    return [r["reference"].split("/")[1] for r in current
            if isinstance(r, dict) and str(r.get("reference", "")).startswith("Patient/")]


def _write_patient_ref(spec, rule, resource, builders, ctx, d) -> None:
    patients = _patient_ids(resource, rule["fhir"])
    if not patients:
        raise TranslationError(rule["fhir"], "no Patient participant to put in PID")
    mrn = ctx.backend_ids.get(("Patient", patients[0]))
    if mrn is None:
        raise TranslationError(rule["fhir"], f"Patient/{patients[0]} is not known to this "
                               "backend (register the patient there first)")
    seg, fld, _c, _s = parse_address(rule["v2"])
    builders[seg].set(fld, 1, mrn, d)
    builders[seg].set(fld, 4, ctx.options.get("assigning_authority", spec["mrn"].get("authority", "")), d)
    builders[seg].set(fld, 5, "MR", d)
    patient = ctx.related.get(("Patient", patients[0]))
    if patient is not None:  # PID-5 etc. are required in SIU's PID too (v2.5.1 10.6)
        _write_fields(spec, "Patient", patient, builders, ctx, d)


def _write_fields(spec, rtype, resource, builders, ctx, d) -> set[str]:
    """Write the mapped elements; returns the segments that received data."""
    value_maps, written = spec.get("value_maps", {}), set()
    for line in spec.get("mappings", {}).get(rtype, []):
        value = get_path(resource, line["fhir"])
        if value is None or value == "":
            continue
        if not isinstance(value, (str, int, float, bool)):
            raise TranslationError(line["fhir"], "mapped element is not a primitive value")
        value = str(value).lower() if isinstance(value, bool) else str(value)
        if "map" in line:
            mapped = value_maps[line["map"]].get(value)
            if mapped is None:
                raise TranslationError(line["fhir"], f"{value!r} has no entry in value map {line['map']}")
            value = mapped
        if "transform" in line:
            value = TO_V2[line["transform"]](value, ctx.options)
        seg, fld, comp, _sub = parse_address(line["v2"])
        if seg in builders:
            builders[seg].set(fld, comp, value, d)
            written.add(seg)
            for extra_comp, extra in (line.get("components") or {}).items():
                builders[seg].set(fld, int(extra_comp), str(extra), d)
    return written


def read(profile: Profile, text: str, options: dict | None = None) -> tuple[str, dict]:
    """(message type, FHIR resource) for an inbound message the profile maps."""
    spec, options = _spec(profile), options or {}
    message = parse(text)
    rtype, interaction = claimed(profile, message)
    if interaction == "merge":
        raise TranslationError("MSH-9", "a merge message is read with hl7v2_merge.read_merges")
    return f"{message.get('MSH-9.1')}^{message.get('MSH-9.2')}", _read_resource(spec, rtype, message, options)


def claimed(profile: Profile, message: Message) -> tuple[str, str]:
    """(resource type, interaction) the profile maps this message's MSH-9 to; TranslationError
    ("unsupported message type") for one it does not claim or an HL7 version it cannot read."""
    code, event = message.get("MSH-9.1"), message.get("MSH-9.2")
    version = message.get("MSH-12.1")
    if version and version.split(".")[0] != "2":
        raise TranslationError("MSH-12", f"unsupported HL7 version {version!r}")
    for rtype, by_interaction in _spec(profile).get("messages", {}).items():
        for interaction, m in by_interaction.items():
            if m["code"] == code and (m["event"] == event or event in m.get("also", [])):
                return rtype, interaction
    raise TranslationError("MSH-9", f"unsupported message type {code}^{event}: not mapped by {profile.key}")


def _read_resource(spec: dict, rtype: str, message: Message, options: dict) -> dict:
    resource: dict = {"resourceType": rtype}
    if "mrn" in spec and rtype == "Patient":
        mrn = message.get(spec["mrn"]["v2"] + ".1")
        if not mrn:
            raise TranslationError(spec["mrn"]["v2"], "the patient identifier is missing")
        resource["identifier"] = [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": options.get("mrn_system", spec["mrn"].get("default_system")), "value": mrn}]
    if "placer" in spec and rtype != "Patient":
        placer = message.get(spec["placer"]["v2"] + ".1")
        if placer:
            resource["identifier"] = [{"system": options.get("placer_system", spec["placer"]["default_system"]),
                                       "value": placer}]
    if rtype in spec.get("patient_ref", {}):
        _read_patient_ref(spec, spec["patient_ref"][rtype], message, resource, options)
    reverse = {name: {v: k for k, v in table.items()} | spec.get("value_maps_in", {}).get(name, {})
               for name, table in spec.get("value_maps", {}).items()}
    for line in spec.get("mappings", {}).get(rtype, []):
        value = message.get(line["v2"])
        if not value or value == '""':
            continue
        if "transform" in line:
            value = TO_FHIR[line["transform"]](value, options)
        if "map" in line:
            mapped = reverse[line["map"]].get(value)
            if mapped is None and "fallback" in line:
                # A site-specific code with no mapping is kept as text, never dropped.
                set_path(resource, line["fallback"], value)
                continue
            if mapped is None:
                raise TranslationError(line["v2"], f"{value!r} has no entry in value map {line['map']}")
            value = mapped
        set_path(resource, line["fhir"], value)
    _read_extras(spec, rtype, message, resource)
    return resource


def _read_extras(spec: dict, rtype: str, message: Message, resource: dict) -> None:
    """The document content (OBX), carried Z-segments, then defaults for what is absent."""
    if rtype in spec.get("attachments", {}):
        rule = spec["attachments"][rtype]
        set_path(resource, rule["fhir"], hl7v2_documents.read_obx(message))
    hl7v2_zsegments.carry_in(spec, message, resource)
    for path, value in spec.get("defaults_in", {}).get(rtype, {}).items():
        if get_path(resource, path) is None:  # e.g. TXA-19 not valued -> status current (IG)
            set_path(resource, path, value)


def _read_patient_ref(spec: dict, rule: dict, message: Message, resource: dict, options: dict) -> None:
    """The patient a message is about, by MRN; the inbound applier resolves it to a local id."""
    mrn = message.get(rule["v2"] + ".1")
    if not mrn:
        return
    reference = {"identifier": {"system": options.get("mrn_system", spec["mrn"].get("default_system")),
                                "value": mrn}}
    if rule["fhir"] == "participant.actor":
        resource["participant"] = [{"actor": reference, "status": "accepted"}]
    else:
        set_path(resource, rule["fhir"], reference)
