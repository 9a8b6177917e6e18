"""Every public v2 sample against hl7v2-generic@2.5.1-1.3.0: what the profile claims parses,
becomes FHIR the gateway accepts, agrees field by field with the reference conversion and the
v2-to-FHIR IG tables, and goes back to v2 with the same field values; the rest is refused as an
unsupported message type."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gateway.services.validation import validate_resource
from translators.dialects import hl7v2, hl7v2_merge, hl7v2_query
from translators.er7 import parse
from translators.profile import load_profiles
from translators.transforms import TO_FHIR
from translators.types import TranslateContext, TranslationError
from datetime import datetime, timezone

DATA = Path(__file__).resolve().parent.parent / "data"
MESSAGES = DATA / "hl7v2" / "messages"
EXPECTED = DATA / "hl7v2" / "expected-fhir"
IG = DATA / "v2-to-fhir-maps" / "segments"
PROFILE = load_profiles()["hl7v2-generic@2.5.1-1.3.0"]
SPEC = PROFILE.data["hl7v2"]
OPTIONS = {"mrn_system": "urn:fhir-gateway:mrn", "assigning_authority": "CLINIC"}
CLAIMED = {"ADT^A01", "ADT^A04", "ADT^A08", "ADT^A28", "ADT^A31", "ADT^A40", "SIU^S12", "SIU^S13",
           "SIU^S14", "SIU^S15", "SIU^S26", "MDM^T02"}


def _type(path: Path) -> str:
    message = parse(path.read_text(encoding="utf-8"))
    return f"{message.get('MSH-9.1')}^{message.get('MSH-9.2')}"


ALL = sorted(MESSAGES.glob("*.hl7"))
INBOUND = [p for p in ALL if _type(p) in CLAIMED]
UNCLAIMED = [p for p in ALL if _type(p) not in CLAIMED and _type(p).split("^")[0] not in ("QBP", "RSP")]


def _read_all(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if _type(path) == "ADT^A40":
        return [dict(m.surviving) for m in hl7v2_merge.read_merges(PROFILE, text, OPTIONS)]
    return [hl7v2.read(PROFILE, text, OPTIONS)[1]]


def test_the_corpus_covers_every_claimed_message_type():
    assert {_type(p) for p in INBOUND} == CLAIMED
    assert len(INBOUND) >= 30 and UNCLAIMED


@pytest.mark.parametrize("path", INBOUND, ids=lambda p: p.name)
def test_claimed_message_becomes_fhir_the_gateway_accepts(path):
    for resource in _read_all(path):
        assert validate_resource(json.loads(json.dumps(resource)), resource["resourceType"]) is not None


@pytest.mark.parametrize("path", UNCLAIMED, ids=lambda p: p.name)
def test_unclaimed_message_is_an_unsupported_message_type(path):
    with pytest.raises(TranslationError) as info:
        hl7v2.read(PROFILE, path.read_text(encoding="utf-8"), OPTIONS)
    assert info.value.where == "MSH-9" and "unsupported message type" in str(info.value)


# --- field by field against the reference conversion (Microsoft FHIR-Converter) -------------

def _expected(name: str, rtype: str) -> dict:
    bundle = json.loads((EXPECTED / f"{name}-expected.json").read_text())
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.mark.parametrize("name", ["MDM-T02-01", "MDM-T02-02"])
def test_document_fields_agree_with_the_reference_conversion(name):
    [ours] = _read_all(MESSAGES / f"{name}.hl7")
    theirs = _expected(name, "DocumentReference")
    assert ours["type"] == theirs["type"]  # TXA-2
    assert ours["masterIdentifier"] == theirs["masterIdentifier"]  # TXA-12
    assert ours["status"] == theirs["status"] == "current"  # TXA-19 not valued
    # TXA-6: the IG maps it to `date`, the reference converter to attachment.creation: same instant
    assert _instant(ours["date"]) == _instant(theirs["content"][0]["attachment"]["creation"])
    patient = _expected(name, "Patient")
    assert ours["subject"]["identifier"]["value"] in {i["value"] for i in patient["identifier"]}


def test_mdm_document_content_is_read_from_obx():
    [ed] = _read_all(MESSAGES / "MDM-T02-01.hl7")  # OBX-2 ED, no data in the sample
    assert ed["content"] == [{"attachment": {"contentType": "application/pdf"}}]
    [text] = _read_all(MESSAGES / "MDM-T02-03.hl7")  # 29 TX lines
    import base64
    lines = base64.b64decode(text["content"][0]["attachment"]["data"]).decode().split("\n")
    assert text["content"][0]["attachment"]["contentType"] == "text/plain"
    assert len(lines) == 29 and lines[0].startswith("Toilet cylinder") and lines[-1].startswith("Reminder shofar")


@pytest.mark.parametrize("name", ["SIU-S12-01", "SIU-S13-01", "SIU-S14-01", "SIU-S15-01"])
def test_appointment_fields_agree_with_the_reference_conversion(name):
    [ours] = _read_all(MESSAGES / f"{name}.hl7")
    theirs = _expected(name, "Appointment")
    assert ours["status"] == theirs["status"]  # SCH-25
    assert _instant(ours["start"]) == _instant(theirs["start"])  # TQ1-7
    assert _instant(ours["end"]) == _instant(theirs["end"])  # TQ1-8
    assert ours["identifier"][0]["value"] in {i["value"] for i in theirs["identifier"]}  # SCH-1


def test_merge_fields_agree_with_the_reference_conversion():
    [instruction] = hl7v2_merge.read_merges(PROFILE, (MESSAGES / "ADT-A40-01.hl7").read_text(), OPTIONS)
    linkage = {item["type"]: item["resource"]["identifier"]["value"]
               for item in _expected("ADT-A40-01", "Linkage")["item"]}
    # the reference conversion: Linkage source = the survivor (PID-3), historical = MRG-1
    assert (instruction.surviving_id, instruction.merged_id) == (linkage["source"], linkage["historical"])
    assert instruction.surviving["name"][0] == {"family": "Test", "given": ["Test", "A"]}
    assert (instruction.surviving["birthDate"], instruction.surviving["gender"]) == ("2018-02-05", "female")
    two = hl7v2_merge.read_merges(PROFILE, (MESSAGES / "ADT-A40-02.hl7").read_text(), OPTIONS)
    assert [(m.surviving_id, m.merged_id) for m in two] == [("12345", "56789"), ("145", "569")]


# --- the IG tables: each claimed field lands on the element the IG names ----------------------

def _ig_targets(table: str) -> dict[str, set[str]]:
    targets: dict[str, set[str]] = {}
    with (IG / table).open(encoding="utf-8-sig") as handle:
        for row in list(csv.reader(handle))[2:]:
            if len(row) > 9 and row[1] and row[9]:
                root = row[9].split(".")[0].split("[")[0].split("(")[0]
                targets.setdefault(row[1], set()).add(root)
    return targets


# Fields the profile maps elsewhere than the IG, each a decision recorded in the profile:
# IN1-2 plan id -> Coverage.type (the IG: identifier), SCH-7 free-text reason -> description.
DEVIATIONS = {"IN1-2", "SCH-7"}
IG_TABLES = {"Patient": "PID_Patient.csv", "DocumentReference": "TXA_DocumentReference.csv",
             "Coverage": "IN1_Coverage.csv", "Appointment": "SCH_Appointment.csv"}


@pytest.mark.parametrize("rtype", sorted(IG_TABLES))
def test_claimed_fields_follow_the_ig_map(rtype):
    targets = _ig_targets(IG_TABLES[rtype])
    segment = IG_TABLES[rtype].split("_")[0]
    checked = 0
    for line in SPEC["mappings"][rtype]:
        field = ".".join(line["v2"].split(".")[:1])
        if not field.startswith(segment) or field in DEVIATIONS or field not in targets:
            continue
        root = line["fhir"].split(".")[0].split("[")[0]
        assert root in targets[field], (field, line["fhir"], targets[field])
        checked += 1
    assert checked >= 3


# --- v2 -> FHIR -> v2 keeps every claimed field value ------------------------------------------

def _normal(line: dict, value: str):
    """Compare values, not spellings: a DTM as its instant (200801311600+0215 ==
    20080131160000+0215); a `date` mapping claims the date only (PID-7's time of birth goes to
    a birthTime extension in the IG, which this profile does not claim)."""
    if value and line.get("transform") == "date":
        return value[:8]
    if value and line.get("transform") == "datetime":
        return _instant(TO_FHIR["datetime"](value, {"timezone": "UTC"}))
    return value


def _context(resource: dict, message) -> TranslateContext:
    mrn = message.get("PID-3.1")
    patient = {"resourceType": "Patient", "id": "p1",
               "identifier": [{"system": OPTIONS["mrn_system"], "value": mrn}]}
    return TranslateContext(datetime(2026, 11, 24, tzinfo=timezone.utc), "RT1",
                            backend_ids={("Patient", "p1"): mrn}, related={("Patient", "p1"): patient},
                            options=OPTIONS)


def _as_sent(resource: dict) -> dict:
    """The read resource as the gateway would hold it: an id, and the patient by reference."""
    resource = json.loads(json.dumps(resource)) | {"id": "r1"}
    for participant in resource.get("participant", []):
        participant["actor"] = {"reference": "Patient/p1"}
    for key in ("subject", "beneficiary"):
        if key in resource:
            resource[key] = {"reference": "Patient/p1"}
    return resource


@pytest.mark.parametrize("path", [p for p in INBOUND if _type(p) != "ADT^A40"], ids=lambda p: p.name)
def test_v2_fhir_v2_gives_back_the_same_field_values(path):
    original = parse(path.read_text(encoding="utf-8"))
    [resource] = _read_all(path)
    rtype = resource["resourceType"]
    interaction = "create" if _type(path) in ("ADT^A01", "ADT^A04", "ADT^A28", "SIU^S12", "MDM^T02") else "update"
    if rtype == "DocumentReference" and "data" not in resource["content"][0]["attachment"]:
        with pytest.raises(TranslationError, match="no data"):  # an empty ED is not sent on
            hl7v2.render(PROFILE, interaction, _as_sent(resource), _context(resource, original))
        return
    back = parse(hl7v2.render(PROFILE, interaction, _as_sent(resource), _context(resource, original)).text)
    defaulted = SPEC.get("defaults_in", {}).get(rtype, {})
    for line in SPEC["mappings"][rtype]:
        before = original.get(line["v2"])
        if not before and line["fhir"] in defaulted:
            continue  # e.g. TXA-19 not valued reads as status current, which goes back as AV
        if line.get("fallback") and before and line["map"] in SPEC["value_maps"] \
                and before not in SPEC["value_maps"][line["map"]].values():
            continue  # a site code kept as text (never dropped) is not sent back as a code
        assert _normal(line, back.get(line["v2"])) == _normal(line, before), line["v2"]
    if rtype == "DocumentReference" and "data" in resource["content"][0]["attachment"]:
        assert [s[5] for s in back.segments if s[0] == "OBX"] == \
            [s[5] for s in original.segments if s[0] == "OBX" and s[2] in ("TX", "FT", "ED")]


def test_merge_v2_fhir_v2_gives_back_pid_and_mrg():
    original = parse((MESSAGES / "ADT-A40-01.hl7").read_text())
    [instruction] = hl7v2_merge.read_merges(PROFILE, (MESSAGES / "ADT-A40-01.hl7").read_text(), OPTIONS)
    survivor = dict(instruction.surviving) | {"id": "p1", "link": [
        {"other": {"reference": "Patient/p0"}, "type": "replaces"}]}
    ctx = TranslateContext(datetime(2026, 11, 24, tzinfo=timezone.utc), "RT1",
                           backend_ids={("Patient", "p0"): instruction.merged_id}, options=OPTIONS)
    back = parse(hl7v2.render(PROFILE, "merge", survivor, ctx).text)
    for address in ("PID-3.1", "PID-5.1", "PID-5.2", "PID-7", "PID-8", "PID-11.1", "PID-11.5", "MRG-1.1"):
        assert back.get(address) == original.get(address), address


# --- IHE PDQ: the public query and responses --------------------------------------------------

def test_our_query_has_the_shape_of_the_public_pdq_request():
    sample = parse((MESSAGES / "QBP-Q22-hl7apy-pdq-req.hl7").read_text())
    ctx = TranslateContext(datetime(2026, 11, 24, tzinfo=timezone.utc), "111069", options=OPTIONS)
    ours = parse(hl7v2_query.build_query(PROFILE, "Patient", [("identifier", "1")], ctx).text)
    for address in ("MSH-9.1", "MSH-9.2", "MSH-9.3", "QPD-1", "QPD-2", "QPD-3.1", "QPD-3.2", "RCP-1"):
        assert ours.get(address) == sample.get(address), address


@pytest.mark.parametrize("name, mrn, family", [("RSP-K22-hl7apy-pdq-res", "1", "MOUSE"),
                                               ("RSP-K22-hl7apy-core-mp", "10101109091948", "JOHN")])
def test_public_pdq_responses_read_into_valid_patients(name, mrn, family):
    text = (MESSAGES / f"{name}.hl7").read_text()
    result = hl7v2_query.read_response(PROFILE, "Patient", text, parse(text).get("MSA-2"), OPTIONS)
    [(backend_id, patient)] = result.matches
    assert backend_id == mrn and patient["name"][0]["family"] == family
    assert patient["birthDate"] == "1969-01-13" and patient["gender"] == "male"
    validate_resource(json.loads(json.dumps(patient)), "Patient")
