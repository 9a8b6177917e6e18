"""FHIRPath invariants from the R4 definitions really run: app-3 and pat-1 are caught, the
official examples pass."""
from __future__ import annotations

import json
from pathlib import Path

from conformance.validators.invariants import validate

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "data" / "fhir-r4-examples").glob("*.json"))


def test_official_examples_pass_every_invariant():
    assert validate([json.loads(p.read_text()) for p in EXAMPLES]) == []


def test_appointment_with_start_and_no_end_breaks_app_2_and_app_3():
    findings = validate([{"resourceType": "Appointment", "status": "booked", "start": "2026-01-01T09:00:00Z",
                          "participant": [{"status": "accepted", "actor": {"reference": "Patient/1"}}]}])
    assert {f.message.split(":")[0] for f in findings} == {"app-2", "app-3"}


def test_patient_contact_without_details_breaks_pat_1_and_participant_app_1():
    patient = validate([{"resourceType": "Patient", "contact": [{"gender": "male"}]}])
    assert [f.message.split(":")[0] for f in patient] == ["pat-1"]
    assert patient[0].path == "Patient.contact"
    appointment = validate([{"resourceType": "Appointment", "status": "proposed",
                             "participant": [{"status": "needs-action"}]}])
    assert [f.message.split(":")[0] for f in appointment] == ["app-1"]
