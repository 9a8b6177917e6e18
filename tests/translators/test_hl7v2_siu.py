"""Appointments as SIU with hl7v2-generic@2.5.1-1.1.0: golden S12, trigger by status, round trip."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from translators.dialects import hl7v2
from translators.profile import load_profiles
from translators.types import TranslateContext, TranslationError

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "hl7v2-generic" / "2.5.1-1.1.0"
PROFILE = load_profiles()["hl7v2-generic@2.5.1-1.1.0"]
CASE = json.loads((GOLDEN / "appointment-create.json").read_text())
CTX = TranslateContext(datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc), "GOLDEN0002",
                       backend_ids={("Patient", "p1"): CASE["patient_mrn"]},
                       related={("Patient", "p1"): CASE["patient"]}, options={"assigning_authority": "CLINIC"})


def test_golden_siu_s12_is_byte_exact_and_valid_hl7():
    message = hl7v2.render(PROFILE, "create", CASE["appointment"], CTX)
    assert message.text == (GOLDEN / "appointment-create.hl7").read_bytes().decode("utf-8")
    assert message.backend_id == "apt-1"
    parse_message(message.text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True).validate()


@pytest.mark.parametrize("status, event", [("booked", "S14"), ("cancelled", "S15"), ("noshow", "S26")])
def test_update_trigger_follows_the_status(status, event):
    appointment = dict(CASE["appointment"], status=status)
    assert hl7v2.render(PROFILE, "update", appointment, CTX).message_type == f"SIU^{event}^SIU_S12"


def test_siu_round_trip_keeps_schedule_fields_and_offsets():
    message = hl7v2.render(PROFILE, "create", CASE["appointment"], CTX)
    _type, back = hl7v2.read(PROFILE, message.text)
    original = CASE["appointment"]
    for key in ("status", "description", "minutesDuration", "start", "end"):
        assert back[key] == original[key], key
    assert back["participant"][0]["actor"]["identifier"]["value"] == "MRN-1"
    assert back["identifier"][0]["value"] == "apt-1"


def test_appointment_for_a_patient_unknown_to_the_ehr_is_refused():
    ctx = TranslateContext(CTX.now, "X")
    with pytest.raises(TranslationError, match="not known to this backend"):
        hl7v2.render(PROFILE, "create", CASE["appointment"], ctx)


def test_naive_v2_time_takes_the_backend_zone():
    text = ("MSH|^~\\&|A|B|C|D|2026||SIU^S12|1|P|2.5.1\rSCH|X1|||||||||||||||||||||||||Booked\r"
            "TQ1|1||||||202612010900|202612010920\rPID|1||MRN-1")
    _type, back = hl7v2.read(PROFILE, text, {"timezone": "America/Chicago"})
    assert back["start"] == "2026-12-01T09:00:00-06:00"


PROFILE_12 = load_profiles()["hl7v2-generic@2.5.1-1.2.0"]
GOLDEN_12 = GOLDEN.parent / "2.5.1-1.2.0"


def test_coverage_goes_as_adt_a08_with_in1_golden_and_valid():
    case = json.loads((GOLDEN_12 / "coverage-create.json").read_text())
    ctx = TranslateContext(CTX.now, "GOLDEN0002", backend_ids={("Patient", "p1"): "MRN-1"},
                           related={("Patient", "p1"): case["patient"]}, options={"assigning_authority": "CLINIC"})
    message = hl7v2.render(PROFILE_12, "create", case["coverage"], ctx)
    assert message.text == (GOLDEN_12 / "coverage-create.hl7").read_bytes().decode("utf-8")
    assert message.message_type == "ADT^A08^ADT_A01"
    parse_message(message.text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True).validate()
    in1 = next(s for s in message.text.split("\r") if s.startswith("IN1")).split("|")
    assert (in1[2], in1[3], in1[4], in1[8], in1[17], in1[36]) == (
        "EHCPOL", "ACME", "Acme Health", "GRP-4410", "SEL", "POL-778812")


def test_patient_contact_round_trips_through_nk1_and_nk1_is_omitted_without_one():
    patient = dict(CASE["patient"], contact=[{
        "name": {"family": "Rivera", "given": ["Jo"]}, "telecom": [{"system": "phone", "value": "555-0109"}],
        "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C"}],
                          "text": "spouse"}]}], identifier=[{"system": "urn:fhir-gateway:mrn", "value": "MRN-1"}])
    message = hl7v2.render(PROFILE_12, "create", patient, CTX)
    assert "\rNK1|1|Rivera^Jo|^spouse||555-0109||C\r" in message.text
    _type, back = hl7v2.read(PROFILE_12, message.text, {"mrn_system": "urn:fhir-gateway:mrn"})
    assert back["contact"] == patient["contact"]
    without = hl7v2.render(PROFILE_12, "create", CASE["patient"] | {"id": "p1"}, CTX)
    assert "\rNK1" not in without.text
