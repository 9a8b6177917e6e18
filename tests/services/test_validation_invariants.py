"""FHIRPath invariants from the R4 StructureDefinitions (constraint, severity error) run after the
model: a case that breaks each one we rely on, and the same resource made right."""
from __future__ import annotations

import pytest

from gateway.services.invariants import rules
from gateway.services.validation import SUPPORTED_TYPES, validate_resource

APPOINTMENT = {"resourceType": "Appointment", "status": "booked", "start": "2026-01-01T09:00:00Z",
               "end": "2026-01-01T09:20:00Z",
               "participant": [{"status": "accepted", "actor": {"display": "Dr X"}}]}


def _keys(error) -> set[str]:
    return {i.diagnostics.split(": ")[1] for i in error.issues if i.code == "invariant"}


def test_the_invariants_evaluated_per_type():
    evaluated = {t: {key for key, *_ in rules(t)} for t in SUPPORTED_TYPES}
    assert evaluated["Patient"] == {"pat-1"}
    assert evaluated["Appointment"] == {"app-1", "app-2", "app-3", "app-4"}
    assert evaluated["AuditEvent"] == {"sev-1"}
    assert evaluated["CoverageEligibilityResponse"] == {"ces-1"}
    assert {"bdl-1", "bdl-7", "bdl-8"} <= evaluated["Bundle"]
    assert not any(k.startswith(("ele-", "dom-", "ext-")) for keys in evaluated.values() for k in keys)


@pytest.mark.parametrize("change, keys", [
    # app-2: start and end both or neither; app-3: only proposed/cancelled/waitlist may lack them.
    ({"end": None}, {"app-2", "app-3"}),
    ({"start": None}, {"app-2", "app-3"}),
    ({"start": None, "end": None}, {"app-3"}),
    ({"status": "waitlist", "start": None}, {"app-2"}),
    ({"cancelationReason": {"text": "ill"}}, {"app-4"}),            # reason on a booked appointment
    ({"participant": [{"status": "accepted"}]}, {"app-1"}),         # neither type nor actor
])
def test_appointment_invariants(rejects, change, keys):
    body = {k: v for k, v in dict(APPOINTMENT, **change).items() if v is not None}
    assert _keys(rejects(body, "Appointment" if keys != {"app-1"} else "Appointment.participant[0]")) == keys


@pytest.mark.parametrize("change", [
    {}, {"status": "proposed", "start": None, "end": None},
    {"status": "waitlist", "start": None, "end": None},
    {"status": "cancelled", "cancelationReason": {"text": "ill"}},
])
def test_appointments_that_keep_the_invariants(change):
    body = {k: v for k, v in dict(APPOINTMENT, **change).items() if v is not None}
    assert validate_resource(body) is body


def test_patient_contact_needs_some_details(valid_patient, rejects):
    error = rejects(dict(valid_patient, contact=[{"gender": "male"}]), "Patient.contact[0]")
    assert _keys(error) == {"pat-1"}
    body = dict(valid_patient, contact=[{"gender": "male", "name": {"family": "Roe"}}])
    assert validate_resource(body) is body


def test_audit_event_entity_name_or_query(rejects):
    event = {"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2026-01-01T00:00:00Z",
             "agent": [{"requestor": True, "who": {"display": "x"}}], "source": {"observer": {"display": "gw"}},
             "entity": [{"name": "n", "query": "cXVlcnk="}]}
    assert _keys(rejects(event, "AuditEvent.entity[0]")) == {"sev-1"}
    good = dict(event, entity=[{"query": "cXVlcnk="}])
    assert validate_resource(good) is good
