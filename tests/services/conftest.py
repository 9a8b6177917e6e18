"""Fixtures for the service tests: a valid Patient body and a helper that expects a 400."""
from __future__ import annotations

import copy

import pytest

from gateway.errors import InvalidResource
from gateway.services.validation import validate_resource

PATIENT = {"resourceType": "Patient", "active": True, "birthDate": "1980-02-03", "gender": "male",
           "name": [{"family": "Doe", "given": ["Jo"]}],
           "telecom": [{"system": "phone", "value": "555-0101", "use": "home"}]}


@pytest.fixture
def valid_patient() -> dict:
    """A fresh, valid Patient (tests may change it)."""
    return copy.deepcopy(PATIENT)


@pytest.fixture
def rejects():
    """rejects(body, expression, **kwargs): validation fails with an issue at `expression`;
    returns the InvalidResource so the test can look at codes and wording."""
    def check(body, expression, **kwargs) -> InvalidResource:
        with pytest.raises(InvalidResource) as info:
            validate_resource(body, **kwargs)
        paths = [e for issue in info.value.issues for e in issue.expression]
        assert expression in paths, [i.diagnostics for i in info.value.issues]
        return info.value
    return check
