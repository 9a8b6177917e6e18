"""fhir.resources R4B models: unknown elements and malformed primitives, at their path."""
from __future__ import annotations

from conformance.validators.models import validate


def test_malformed_date_and_missing_required_element_are_reported_at_their_path():
    findings = validate([{"resourceType": "Patient", "birthDate": "1980-13-45"},
                         {"resourceType": "Appointment", "status": "booked", "participant": [{}]},
                         {"resourceType": "Spaceship"}], ["p", "a", "s"])
    paths = {(f.resource_ref, f.path) for f in findings}
    assert ("p", "birthDate") in paths
    assert ("a", "participant[0].status") in paths
    assert ("s", "resourceType") in paths
