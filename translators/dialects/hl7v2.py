"""The HL7 v2 dialect: FHIR resource <-> ER7 message, driven by a profile's `hl7v2` section. Pure.

May import: stdlib, translators.*. Field mappings are data (profile), the logic here is generic:
MSH/EVN from the context, the identifier the EHR knows the resource by (MRN in PID-3 with the
configured assigning authority), constants, then `fhir path <-> SEG-field.component` lines with
value maps and named transforms. Spec: HL7 v2.5.1 ch. 2 (MSH), 3 (ADT, PID, EVN, PV1).
"""
from __future__ import annotations

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
    if interaction == "update" and resource.get("status") in msg.get("by_status", {}):
        msg = dict(msg, event=msg["by_status"][resource["status"]])
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
    written = _write_fields(spec, rtype, resource, builders, ctx, d)
    # Optional segments (NK1, IN1...) appear only when a mapping put data in them.
    skip = set(spec.get("optional_segments", [])) - written
    lines = [_render_msh(builders["MSH"], d)] + [b.render(d) for n, b in builders.items()
                                                 if n != "MSH" and n not in skip]
    message_type = f"{msg['code']}^{msg['event']}^{msg['structure']}"
    return Hl7v2Message("\r".join(lines) + "\r", message_type, ctx.control_id, backend_id)


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
    code, event = message.get("MSH-9.1"), message.get("MSH-9.2")
    version = message.get("MSH-12.1")
    if version and version.split(".")[0] != "2":
        raise TranslationError("MSH-12", f"unsupported HL7 version {version!r}")
    for rtype, by_interaction in spec.get("messages", {}).items():
        if any(m["code"] == code and (m["event"] == event or event in m.get("also", []))
               for m in by_interaction.values()):
            return f"{code}^{event}", _read_resource(spec, rtype, message, options)
    raise TranslationError("MSH-9", f"message type {code}^{event} is not mapped by {profile.key}")


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
        mrn = message.get(spec["patient_ref"][rtype]["v2"] + ".1")
        if mrn:
            resource["participant"] = [{"actor": {"identifier": {
                "system": options.get("mrn_system", spec["mrn"].get("default_system")), "value": mrn}},
                "status": "accepted"}]
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
    return resource
