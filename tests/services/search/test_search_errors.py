"""Bad search input is a 400 (BadRequest) that names the offending parameter, never a 500 and
never a silently ignored criterion (R4 search.html#errors)."""
from __future__ import annotations

import pytest

from gateway.errors import BadRequest

BAD = [
    ("Patient", "birthdate=1974-13-01", "birthdate"),
    ("Patient", "birthdate=19741225", "birthdate"),
    ("Patient", "birthdate=bt1974", "birthdate"),  # not a prefix
    ("Patient", "birthdate=1974-12-25T25:00Z", "birthdate"),
    ("Patient", "birthdate=ge", "birthdate"),
    ("Patient", "birthdate=1974,yesterday", "birthdate"),  # one bad value among OR-ed ones
    ("Patient", "_lastUpdated=2024-02-30", "_lastUpdated"),
    ("Appointment", "date=2024-05-01T10", "date"),
    ("Patient", "family=", "family"),
    ("Patient", "family=,", "family"),
    ("Patient", "family:fuzzy=smith", "family:fuzzy"),  # unknown modifier
    ("Patient", "family:not=smith", "family:not"),  # :not is for tokens
    ("Patient", "gender:exact=male", "gender:exact"),
    ("Patient", "gender:text=male", "gender:text"),
    ("Patient", "birthdate:exact=1974", "birthdate:exact"),
    ("Patient", "gender:missing=maybe", "gender:missing"),
    ("Patient", "_id:missing=true", "_id:missing"),
    ("Patient", "_count=abc", "_count"),
    ("Patient", "_count=-1", "_count"),
    ("Patient", "_count=2.5", "_count"),
    ("Patient", "_sort=gender", "_sort"),  # not sortable
    ("Patient", "_sort=shoe-size", "_sort"),
    ("Appointment", "_sort=family", "_sort"),  # a Patient param
    ("Patient", "_summary=text", "_summary"),
    ("Patient", "_total=some", "_total"),
    ("Appointment", "_include=Appointment", "_include"),
    ("Appointment", "_include=Appointment:status", "_include"),  # not a reference param
    ("Appointment", "_include=Observation:subject", "_include"),
    ("Patient", "_revinclude=Appointment:nope", "_revinclude"),
    ("Patient", "_page=%%%", "_page"),
]


@pytest.mark.parametrize("rtype,query,param", BAD, ids=[f"{t}?{q}" for t, q, _ in BAD])
def test_bad_values_are_refused_naming_the_parameter(seeded, rtype, query, param):
    with pytest.raises(BadRequest) as caught:
        seeded.search(rtype, query)
    error = caught.value
    assert error.status == 400
    assert error.expression == (param,)
    outcome = error.outcome()
    assert outcome["issue"][0]["expression"] == [param]
    assert outcome["issue"][0]["diagnostics"]


def test_bad_values_are_refused_in_lenient_mode_too(seeded):
    # lenient only forgives unknown parameters, not invalid values of known ones
    with pytest.raises(BadRequest):
        seeded.search("Patient", "birthdate=soon", handling="lenient")
