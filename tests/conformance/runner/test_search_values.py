"""Search values come from the R4 SearchParameter expressions: a matching and a non-matching
value per parameter type, `resolve() is X` kept to references of type X."""
from __future__ import annotations

from conformance.runner.search_values import probe, references

APPOINTMENT = {"resourceType": "Appointment", "id": "a1", "status": "booked", "start": "2026-12-10T09:00:00+10:00",
               "serviceType": [{"coding": [{"system": "http://s", "code": "57"}]}],
               "participant": [{"actor": {"reference": "Practitioner/d1"}}, {"actor": {"reference": "Patient/p1"}}]}
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1974-12-25", "name": [{"family": "Chalmers"}],
           "identifier": [{"system": "urn:mrn", "value": "7"}], "telecom": [{"system": "phone", "value": "555"}]}


def test_reference_parameters_keep_only_the_resolved_type():
    assert probe("Appointment", "patient", APPOINTMENT, "r").match == ["Patient/p1"]
    assert probe("Appointment", "practitioner", APPOINTMENT, "r").match == ["Practitioner/d1"]
    assert references("Appointment", "actor", APPOINTMENT) == ["Practitioner/d1", "Patient/p1"]


def test_token_string_and_date_values():
    assert probe("Appointment", "service-type", APPOINTMENT, "r").match == ["http://s|57"]
    assert probe("Patient", "identifier", PATIENT, "r").match == ["urn:mrn|7"]
    assert probe("Patient", "phone", PATIENT, "r").match == ["555"]  # a ContactPoint: value only
    assert probe("Patient", "family", PATIENT, "r").match == ["chalme"]  # a prefix, lower case
    assert probe("Patient", "birthdate", PATIENT, "r").match == ["eq1974-12-25"]
    day = probe("Appointment", "date", APPOINTMENT, "r")
    assert day.match == ["ge2026-12-09", "le2026-12-11"] and day.miss == ["lt2026-12-09"]
    assert probe("Patient", "_id", PATIENT, "r").miss == ["no-match-r"]


def test_no_value_no_probe():
    assert probe("Patient", "email", PATIENT, "r") is None
    assert probe("Patient", "no-such-parameter", PATIENT, "r") is None
