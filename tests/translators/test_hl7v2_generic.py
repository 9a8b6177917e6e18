"""The HL7 v2 dialect with profile hl7v2-generic@2.5.1-1.0.0: golden pairs, round trips, the
public corpus, and bad input."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from translators.dialects import hl7v2
from translators.er7 import Delimiters, escape, parse, unescape
from translators.profile import load_profiles
from translators.types import TranslateContext, TranslationError

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden" / "hl7v2-generic" / "2.5.1-1.0.0"
CORPUS = ROOT / "data" / "hl7v2"
PROFILE = load_profiles()["hl7v2-generic@2.5.1-1.0.0"]
OPTIONS = {"assigning_authority": "CLINIC", "mrn_system": "urn:fhir-gateway:mrn"}
CTX = TranslateContext(datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc), "GOLDEN0001", options=OPTIONS)


def test_golden_fhir_to_v2_is_byte_exact():
    resource = json.loads((GOLDEN / "patient-create.fhir.json").read_text())
    message = hl7v2.render(PROFILE, "create", resource, CTX)
    assert message.text == (GOLDEN / "patient-create.hl7").read_bytes().decode("utf-8")
    assert message.message_type == "ADT^A04^ADT_A01" and message.backend_id == "MRN-7"


def test_golden_v2_to_fhir_is_exact():
    _type, resource = hl7v2.read(PROFILE, (GOLDEN / "adt-a04-in.hl7").read_text(), OPTIONS)
    assert resource == json.loads((GOLDEN / "adt-a04-in.fhir.json").read_text())


def test_update_renders_a08_with_the_same_mrn():
    resource = json.loads((GOLDEN / "patient-create.fhir.json").read_text())
    message = hl7v2.render(PROFILE, "update", resource, CTX)
    assert message.message_type == "ADT^A08^ADT_A01"
    assert parse(message.text).get("PID-3.1") == "MRN-7"


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                max_size=20).filter(lambda s: s.strip() == s and s.strip())
_patients = st.fixed_dictionaries({
    "resourceType": st.just("Patient"), "id": st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    "identifier": st.builds(lambda v: [{"system": "urn:fhir-gateway:mrn", "value": v}],
                            st.from_regex(r"[A-Z0-9\-]{1,15}", fullmatch=True)),
    "name": st.builds(lambda f, g: [{"family": f, "given": g}], _text, st.lists(_text, min_size=1, max_size=2)),
    "gender": st.sampled_from(["male", "female", "other", "unknown"]),
    "birthDate": st.dates(min_value=datetime(1900, 1, 1).date(),
                          max_value=datetime(2026, 1, 1).date()).map(lambda d: d.isoformat()),
    "address": st.builds(lambda line, city, zip_: [{"line": [line], "city": city, "postalCode": zip_}],
                         _text, _text, st.from_regex(r"[0-9]{5}", fullmatch=True)),
    "telecom": st.builds(lambda v: [{"system": "phone", "use": "home", "value": v}],
                         st.from_regex(r"\+?[0-9 \-]{3,15}[0-9]", fullmatch=True)),
})


@settings(max_examples=150, deadline=None)
@given(_patients)
def test_round_trip_fhir_v2_fhir_keeps_every_mapped_field(patient):
    message = hl7v2.render(PROFILE, "create", patient, CTX)
    _type, back = hl7v2.read(PROFILE, message.text, OPTIONS)
    for key in ("name", "gender", "birthDate", "address", "telecom"):
        assert back[key] == patient[key], key
    assert back["identifier"][0]["value"] == patient["identifier"][0]["value"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_escaping_round_trips(text):
    d = Delimiters()
    assert unescape(escape(text, d), d) == text


def test_custom_delimiters_are_honoured():
    text = "MSH#*!/%#APP#FAC#EHR#CLINIC#20260101##ADT*A04#1#P#2.5.1\rPID#1##X1##SMITH*JO/S/#"
    message = parse(text)
    assert message.delimiters.field == "#" and message.get("PID-5.1") == "SMITH"
    assert message.get("PID-5.2") == "JO*"  # /S/ is the component separator, escaped


# the registration messages this profile claims (A40 merges, and the transfer/discharge/cancel
# events no profile claims, A02/A03/A11, are in test_hl7v2_corpus)
ADT_MESSAGES = sorted(p for p in (CORPUS / "messages").glob("ADT*.hl7")
                      if not any(event in p.name for event in ("A02", "A03", "A11", "A40")))


@pytest.mark.parametrize("path", ADT_MESSAGES, ids=lambda p: p.name)
def test_every_corpus_adt_message_reads_into_a_valid_patient(path):
    from fhir.resources.R4B.patient import Patient
    _type, resource = hl7v2.read(PROFILE, path.read_text(encoding="utf-8"), OPTIONS)
    Patient.model_validate(resource)
    message = parse(path.read_text(encoding="utf-8"))
    # field by field, as the v2-to-FHIR IG PID map says for the fields this profile claims
    assert resource["identifier"][0]["value"] == message.get("PID-3.1")
    assert resource["name"][0]["family"] == message.get("PID-5.1")
    assert resource["gender"] == {"M": "male", "F": "female", "O": "other", "U": "unknown",
                                  "A": "other", "N": "unknown"}[message.get("PID-8")]
    assert resource["birthDate"].replace("-", "") == message.get("PID-7")[:8]


@pytest.mark.parametrize("path", sorted(p for p in (CORPUS / "expected-fhir").glob("ADT*.json")
                                         if "A40" not in p.name), ids=lambda p: p.name)
def test_claimed_fields_agree_with_the_reference_conversion(path):
    expected = json.loads(path.read_text())
    patient = next(e["resource"] for e in expected["entry"] if e["resource"]["resourceType"] == "Patient")
    source = CORPUS / "messages" / path.name.replace("-expected.json", ".hl7")
    _type, ours = hl7v2.read(PROFILE, source.read_text(encoding="utf-8"), OPTIONS)
    assert ours["name"][0]["family"] == patient["name"][0]["family"]
    assert ours["name"][0]["given"][0] == patient["name"][0]["given"][0]
    assert ours["birthDate"] == patient["birthDate"] and ours["gender"] == patient["gender"]
    assert ours["identifier"][0]["value"] in {i["value"] for i in patient["identifier"]}
    assert ours["address"][0]["postalCode"] == patient["address"][0]["postalCode"]


@pytest.mark.parametrize("text, where", [
    ("PID|1||X", "MSH"),
    ("MSH|^~\\|APP", "MSH"),
    ("MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5.1\rPID|1||X", "MSH-9"),
    ("MSH|^~\\&|A|B|C|D|2026||ADT^A04|1|P|3.0\rPID|1||X", "MSH-12"),
    ("MSH|^~\\&|A|B|C|D|2026||ADT^A04|1|P|2.5.1\rPID|1||^^^AUTH||DOE", "PID-3"),
    ("MSH|^~\\&|A|B|C|D|2026||ADT^A04|1|P|2.5.1\rPID|1||X1||DOE||1980|Q", "PID-8"),
    ("MSH|^~\\&|A|B|C|D|2026||ADT^A04|1|P|2.5.1\rpid|1", "pid"),
])
def test_bad_messages_give_a_clear_translation_error(text, where):
    with pytest.raises(TranslationError) as info:
        hl7v2.read(PROFILE, text, OPTIONS)
    assert info.value.where.startswith(where)


def test_unmapped_fhir_value_is_refused_not_dropped():
    resource = json.loads((GOLDEN / "patient-create.fhir.json").read_text())
    resource["maritalStatus"]["coding"][0]["code"] = "Q"
    with pytest.raises(TranslationError, match="marital"):
        hl7v2.render(PROFILE, "create", resource, CTX)


def test_site_specific_inbound_code_is_kept_as_text():
    text = "MSH|^~\\&|A|B|C|D|2026||ADT^A04|1|P|2.5.1\rPID|1||X1||DOE||1980|F||||||||Married"
    _type, resource = hl7v2.read(PROFILE, text, OPTIONS)
    assert resource["maritalStatus"] == {"text": "Married"}
