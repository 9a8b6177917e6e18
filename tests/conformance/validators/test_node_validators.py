"""The Node validators run as one process per batch and report per resource, in order."""
from __future__ import annotations

import pytest

from conformance.validators import node


def test_one_batch_reports_each_resource_under_its_own_name():
    findings = node.validate([{"resourceType": "Patient", "gender": "female"},
                              {"resourceType": "Patient", "birthDate": "1980-13-45"}], ["good", "bad-date"])
    # FHIR.js does not check the date pattern; the schema validator does, at the element
    assert [(f.validator, f.resource_ref, f.path) for f in findings] == [("asymmetrik", "bad-date", "birthDate")]


def test_the_oneof_noise_of_the_schema_validator_is_folded_but_a_bare_failure_is_kept():
    findings = node.validate([{"resourceType": "Spaceship"}], ["x"])
    asymmetrik = [f for f in findings if f.validator == "asymmetrik"]
    assert len(asymmetrik) == 1  # one line for a result made only of oneOf noise, never none


def test_a_batch_of_names_must_match_the_batch():
    with pytest.raises(ValueError):
        node.validate([{"resourceType": "Patient"}], ["a", "b"])
