"""hl7v2-generic@2.5.1-1.3.0: MDM documents, S13 reschedule, IN2 and verification, A40 merge,
IHE PDQ query, Z-segments; goldens byte for byte, round trips and bad input."""
from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from translators.cli_profiles import _case_context, _golden_context, check_profiles
from translators.dialects import hl7v2, hl7v2_merge, hl7v2_query, hl7v2_zsegments
from translators.er7 import parse
from translators.profile import load_profiles
from translators.types import TranslateContext, TranslationError

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "hl7v2-generic" / "2.5.1-1.3.0"
PROFILE = load_profiles()["hl7v2-generic@2.5.1-1.3.0"]
OLD = load_profiles()["hl7v2-generic@2.5.1-1.2.0"]
CTX = _golden_context()
OPTIONS = dict(CTX.options)


def _case(name: str) -> tuple[dict, TranslateContext]:
    data = json.loads((GOLDEN / f"{name}.case.json").read_text())
    return data, _case_context(CTX, data)


@pytest.mark.parametrize("name", sorted(p.name.replace(".case.json", "") for p in GOLDEN.glob("*.case.json")))
def test_golden_cases_render_byte_for_byte(name):
    data, ctx = _case(name)
    message = hl7v2.render(PROFILE, data["interaction"], data["resource"], ctx)
    assert message.text == (GOLDEN / f"{name}.hl7").read_bytes().decode("utf-8")


def test_patient_golden_of_1_2_0_is_unchanged_in_1_3_0():
    patient = json.loads((GOLDEN / "patient-create.fhir.json").read_text())
    assert hl7v2.render(PROFILE, "create", patient, CTX).text == hl7v2.render(OLD, "create", patient, CTX).text


def test_profiles_check_runs_the_1_3_0_goldens_and_catches_a_changed_one(tmp_path):
    import shutil
    assert check_profiles()[0] == 0
    golden = tmp_path / "golden"
    shutil.copytree(GOLDEN.parent.parent, golden)
    target = golden / "hl7v2-generic" / "2.5.1-1.3.0" / "document-create.hl7"
    target.write_text(target.read_text().replace("|AU|R|AV", "|IP|R|AV"))
    code, text = check_profiles(golden_root=golden)
    assert code == 1 and "document-create.case.json renders differently" in text


# --- Appointment: S13 reschedule ----------------------------------------------------------

def test_reschedule_is_s13_and_other_updates_stay_s14():
    data, ctx = _case("appointment-reschedule")
    assert hl7v2.render(PROFILE, "update", data["resource"], ctx).message_type == "SIU^S13^SIU_S12"
    same_time = dict(data["resource"], start=data["previous"]["start"], end=data["previous"]["end"],
                     description="Flu shot, left arm")
    assert hl7v2.render(PROFILE, "update", same_time, ctx).message_type == "SIU^S14^SIU_S12"
    unknown_before = replace(ctx, related={k: v for k, v in ctx.related.items() if k[0] == "Patient"})
    assert hl7v2.render(PROFILE, "update", data["resource"], unknown_before).message_type == "SIU^S14^SIU_S12"
    cancelled = dict(data["resource"], status="cancelled")  # a status event wins over the change
    assert hl7v2.render(PROFILE, "update", cancelled, ctx).message_type == "SIU^S15^SIU_S12"
    assert hl7v2.render(OLD, "update", data["resource"], ctx).message_type == "SIU^S14^SIU_S12"


# --- Coverage: IN1-29/30 and IN2 -------------------------------------------------------------

def test_coverage_verification_and_in2_round_trip():
    data, ctx = _case("coverage-update")
    message = hl7v2.render(PROFILE, "update", data["resource"], ctx)
    parsed = parse(message.text)
    assert (parsed.get("IN1-29"), parsed.get("IN1-30.1"), parsed.get("IN1-30.2")) == (
        "20261123154200-0600", "FD-12", "Okafor")
    assert (parsed.get("IN2-6"), parsed.get("IN2-8")) == ("1EG4-TE5-MK73", "MCD-55120")
    # ADT^A08 reads as a Patient update on the way in; the Coverage lines read the same IN1/IN2
    from translators.dialects.hl7v2 import _read_resource
    back = _read_resource(PROFILE.data["hl7v2"], "Coverage", parsed, OPTIONS)
    sent = data["resource"]
    assert back["extension"] == sent["extension"]
    assert back["identifier"] == sent["identifier"]
    assert back["beneficiary"]["identifier"]["value"] == "MRN-1"


def test_in2_is_left_out_when_nothing_maps_to_it():
    data, ctx = _case("coverage-update")
    plain = dict(data["resource"], identifier=[{"value": "POL-1"}])
    assert "\rIN2" not in hl7v2.render(PROFILE, "update", plain, ctx).text


# --- DocumentReference + Binary: MDM^T02 ---------------------------------------------------------

def test_document_with_binary_goes_as_mdm_t02_with_base64_ed():
    data, ctx = _case("document-create")
    message = hl7v2.render(PROFILE, "create", data["resource"], ctx)
    parsed = parse(message.text)
    binary = next(r for r in data["related"] if r["resourceType"] == "Binary")
    assert message.message_type == "MDM^T02^MDM_T02"
    assert (parsed.get("OBX-2"), parsed.get("OBX-5.2"), parsed.get("OBX-5.3"), parsed.get("OBX-5.4")) == (
        "ED", "application", "pdf", "Base64")
    assert parsed.get("OBX-5.5") == binary["data"]
    assert base64.b64decode(parsed.get("OBX-5.5")).startswith(b"%PDF-1.4")
    assert (parsed.get("TXA-2"), parsed.get("TXA-12.1"), parsed.get("TXA-17")) == ("CN", "DOC-2026-0042", "AU")
    update = hl7v2.render(PROFILE, "update", data["resource"], ctx)
    assert update.message_type == "MDM^T08^MDM_T02"


def test_document_round_trips_with_inline_data():
    data, ctx = _case("document-create")
    binary = next(r for r in data["related"] if r["resourceType"] == "Binary")
    document = json.loads(json.dumps(data["resource"]))
    document["content"][0]["attachment"] = {"contentType": "application/pdf", "data": binary["data"]}
    _type, back = hl7v2.read(PROFILE, hl7v2.render(PROFILE, "create", document, ctx).text, OPTIONS)
    for key in ("type", "date", "docStatus", "status", "securityLabel", "content"):
        assert back[key] == document[key], key
    assert back["masterIdentifier"]["value"] == document["masterIdentifier"]["value"]


def test_text_document_goes_as_tx_lines_and_back():
    data, ctx = _case("document-create")
    document = json.loads(json.dumps(data["resource"]))
    text = "Line one | with a pipe\nLine two ^ with a hat"
    document["content"][0]["attachment"] = {"contentType": "text/plain",
                                            "data": base64.b64encode(text.encode()).decode()}
    rendered = hl7v2.render(PROFILE, "create", document, ctx).text
    assert rendered.count("\rOBX|") == 2 and "|TX|" in rendered and "\\F\\" in rendered
    _type, back = hl7v2.read(PROFILE, rendered, OPTIONS)
    assert base64.b64decode(back["content"][0]["attachment"]["data"]).decode() == text


@pytest.mark.parametrize("attachment, reason", [
    ({"contentType": "application/pdf"}, "no data"),
    ({"contentType": "application/pdf", "url": "Binary/missing"}, "not available"),
    ({"contentType": "pdf", "data": "JVBERg=="}, "not a MIME type"),
])
def test_document_without_usable_content_is_refused(attachment, reason):
    data, ctx = _case("document-create")
    document = json.loads(json.dumps(data["resource"]))
    document["content"][0]["attachment"] = attachment
    with pytest.raises(TranslationError, match=reason):
        hl7v2.render(PROFILE, "create", document, ctx)


@pytest.mark.parametrize("obx, where", [
    ("OBX|1|ED|DOC||^application^pdf^Base64^not*base64||||||F", "OBX-5.5"),
    ("OBX|1|ED|DOC||^^^Base64^JVBERg==||||||F", "OBX-5.2"),
    ("OBX|1|ED|DOC||^application^pdf^Hex^0A0B||||||F", "OBX-5.4"),
    ("OBX|1|NM|DOC||12||||||F", "OBX-5"),
])
def test_bad_document_content_inbound_is_a_clear_error(obx, where):
    text = (GOLDEN / "mdm-t02-in.hl7").read_text().rsplit("OBX|", 1)[0] + obx + "\r"
    with pytest.raises(TranslationError) as info:
        hl7v2.read(PROFILE, text, OPTIONS)
    assert info.value.where == where


# --- Patient merge: ADT^A40 -----------------------------------------------------------------

def test_merge_needs_the_link_and_a_known_merged_patient():
    data, ctx = _case("patient-merge")
    without_link = {k: v for k, v in data["resource"].items() if k != "link"}
    with pytest.raises(TranslationError, match="Patient.link"):
        hl7v2.render(PROFILE, "merge", without_link, ctx)
    with pytest.raises(TranslationError, match="not known"):
        hl7v2.render(PROFILE, "merge", data["resource"], replace(ctx, backend_ids={}))
    with pytest.raises(TranslationError, match="no message"):
        hl7v2.render(OLD, "merge", data["resource"], ctx)


def test_merge_message_is_not_read_as_a_patient_write():
    text = (GOLDEN / "adt-a40-in.hl7").read_text()
    with pytest.raises(TranslationError, match="merge"):
        hl7v2.read(PROFILE, text, OPTIONS)
    with pytest.raises(TranslationError, match="unsupported message type"):
        hl7v2.read(OLD, text, OPTIONS)  # 1.2.0 never claimed A40


@pytest.mark.parametrize("tail, reason", [
    ("PID|1||MRN-1^^^CLINIC^MR||Rivera^Ana\rMRG|MRN-1^^^CLINIC^MR\r", "same patient"),
    ("PID|1||MRN-1^^^CLINIC^MR||Rivera^Ana\rMRG|^^^CLINIC^MR\r", "empty"),
    ("MRG|MRN-9^^^CLINIC^MR\r", "without the PID"),
    ("PID|1||MRN-1^^^CLINIC^MR||Rivera^Ana\r", "without a PID/MRG pair"),
])
def test_bad_merges_are_refused(tail, reason):
    head = "MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124||ADT^A40^ADT_A39|M1|P|2.5.1\rEVN|A40|20261124\r"
    with pytest.raises(TranslationError, match=reason):
        hl7v2_merge.read_merges(PROFILE, head + tail, OPTIONS)


# --- IHE PDQ query ---------------------------------------------------------------------------

def _query(params):
    ctx = TranslateContext(datetime(2026, 11, 24, tzinfo=timezone.utc), "Q1", options=OPTIONS)
    return parse(hl7v2_query.build_query(PROFILE, "Patient", params, ctx).text)


def test_search_params_become_qpd_3_pairs():
    qbp = _query([("family", "Riv"), ("gender", "female"), ("birthdate", "1985-03-14"),
                  ("identifier", "urn:fhir-gateway:mrn|MRN-1"), ("_count", "5")])
    assert qbp.get("MSH-9.1") == "QBP" and qbp.get("QPD-1") == "IHE PDQ Query" and qbp.get("QPD-2") == "Q1"
    pairs = list(zip(qbp.repetitions("QPD-3.1"), qbp.repetitions("QPD-3.2")))
    assert pairs == [("@PID.5.1", "Riv*"), ("@PID.8", "F"), ("@PID.7", "19850314"), ("@PID.3.1", "MRN-1")]
    assert (qbp.get("RCP-1"), qbp.get("RCP-2")) == ("I", "")  # _count pages locally, never truncates


@pytest.mark.parametrize("params", [
    [("family:exact", "Rivera")], [("email", "a@b.c")], [("birthdate", "ge1980-01-01")],
    [("birthdate", "1980")], [("birthdate", "1980-01")],
    [("identifier", "urn:other|X1")], [("family", "Rivera,Nguyen")], [("_count", "5")],
    [("gender", "robot")], [],
])
def test_searches_the_ehr_cannot_answer_are_left_to_the_mirror(params):
    assert hl7v2_query.translatable(PROFILE, "Patient", params, OPTIONS) is None
    with pytest.raises(TranslationError):
        _query(params)


def test_only_a_profile_that_says_so_sends_queries():
    assert hl7v2_query.translatable(OLD, "Patient", [("family", "Rivera")]) is None
    assert hl7v2_query.translatable(PROFILE, "Appointment", [("status", "booked")]) is None


RSP = ("MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124||RSP^K22^RSP_K21|R1|P|2.5.1\rMSA|{msa}|Q1\r{err}"
       "QAK|Q1|{qak}\rQPD|IHE PDQ Query|Q1|@PID.5.1^Riv*\r{pids}")


def test_rsp_k22_reads_every_pid_in_order():
    pids = ("PID|1||MRN-1^^^CLINIC^MR||Rivera^Ana||19850314|F\r"
            "PID|2||MRN-2^^^CLINIC^MR||Rivers^Bo||19900101|M\r")
    result = hl7v2_query.read_response(PROFILE, "Patient", RSP.format(msa="AA", err="", qak="OK", pids=pids), "Q1", OPTIONS)
    assert [(mrn, p["name"][0]["family"]) for mrn, p in result.matches] == [("MRN-1", "Rivera"), ("MRN-2", "Rivers")]
    assert result.profile == PROFILE.key
    empty = hl7v2_query.read_response(PROFILE, "Patient", RSP.format(msa="AA", err="", qak="NF", pids=""), "Q1", OPTIONS)
    assert empty.matches == ()


@pytest.mark.parametrize("text, control_id, reason", [
    (RSP.format(msa="AE", err="ERR|||103^Table value not found^HL70357|E||||query field unsupported\r",
                qak="AE", pids=""), "Q1", "query field unsupported"),
    (RSP.format(msa="AA", err="", qak="OK", pids=""), "OTHER", "not our query"),
    ("MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124||ACK^Q22^ACK|R1|P|2.5.1\rMSA|AR|Q1\r", "Q1", r"expected RSP\^K22"),
])
def test_refused_or_foreign_answers_are_errors(text, control_id, reason):
    with pytest.raises(TranslationError, match=reason):
        hl7v2_query.read_response(PROFILE, "Patient", text, control_id, OPTIONS)


# --- Z-segments ----------------------------------------------------------------------------------

def test_mapped_and_carried_z_segments_round_trip():
    text = (GOLDEN / "adt-a08-zseg-in.hl7").read_text()
    _type, patient = hl7v2.read(PROFILE, text, OPTIONS)
    again = hl7v2.render(PROFILE, "update", dict(patient, id="p1"), CTX).text
    assert "\rZPI|1|she/her|Y\r" in again and again.endswith("\rZPV|1|PORTAL^Yes|20260101\r")
    assert hl7v2_zsegments.unclaimed(PROFILE.data["hl7v2"], text) == []


def test_unclaimed_z_segments_are_named_not_lost(tmp_path):
    text = (GOLDEN / "adt-a08-zseg-in.hl7").read_text() + "ZXY|1|secret site data\rZAB|1\r"
    assert hl7v2_zsegments.unclaimed(PROFILE.data["hl7v2"], text) == ["ZXY", "ZAB"]
    (tmp_path / "feed.hl7").write_text(text)
    code, report = check_profiles(samples=tmp_path)
    assert code == 0
    assert "hl7v2-generic@2.5.1-1.3.0: sample feed.hl7: unmapped Z-segments ZXY, ZAB" in report
    # 1.2.0 claims no Z-segment at all: everything is reported for it
    assert "hl7v2-generic@2.5.1-1.2.0: sample feed.hl7: unmapped Z-segments ZPI, ZPV, ZXY, ZAB" in report


def test_a_carried_segment_the_profile_no_longer_carries_is_not_sent():
    patient = {"resourceType": "Patient", "id": "p1", "identifier": [{"system": "urn:fhir-gateway:mrn", "value": "M1"}],
               "extension": [{"url": hl7v2_zsegments.CARRIED_URL, "valueString": "ZQQ|1|x"}]}
    assert "ZQQ" not in hl7v2.render(PROFILE, "create", patient, CTX).text


# --- property: every Coverage field 1.3.0 adds survives FHIR -> v2 -> FHIR ---------------------

_token = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 .\-|^&~]{0,14}[A-Za-z0-9]", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(medicare=_token, medicaid=_token, verifier=_token, name=_token,
       when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31)))
def test_coverage_additions_round_trip(medicare, medicaid, verifier, name, when):
    data, ctx = _case("coverage-update")
    base = "https://fhir-gateway.dev/fhir/StructureDefinition/"
    coverage = dict(data["resource"], identifier=[
        {"value": "POL-1"}, {"system": "http://hl7.org/fhir/sid/us-medicare", "value": medicare},
        {"system": "http://hl7.org/fhir/sid/us-medicaid", "value": medicaid}], extension=[
        {"url": base + "coverage-verified", "valueDateTime": when.strftime("%Y-%m-%dT%H:%M:%S-05:00")},
        {"url": base + "coverage-verified-by", "valueReference": {"identifier": {"value": verifier}, "display": name}}])
    from translators.dialects.hl7v2 import _read_resource
    back = _read_resource(PROFILE.data["hl7v2"], "Coverage",
                          parse(hl7v2.render(PROFILE, "update", coverage, ctx).text), OPTIONS)
    assert back["identifier"] == coverage["identifier"] and back["extension"] == coverage["extension"]
