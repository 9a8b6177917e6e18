"""Reference search (R4 search.html#reference): Type/id, id, absolute URL (ours or another
server's), the :Type modifier, and the typed participant params of Appointment."""
from __future__ import annotations

import pytest
from search_seed import BASE

from gateway.errors import BadRequest

CASES = [
    ("Appointment", "patient=example", {"example", "2docs", "examplereq"}),
    ("Appointment", "patient=Patient/example", {"example", "2docs", "examplereq"}),
    ("Appointment", f"patient={BASE}/Patient/example", {"example", "2docs", "examplereq"}),
    ("Appointment", "patient=Patient/example/_history/1", {"example", "2docs", "examplereq"}),
    ("Appointment", "patient=http://elsewhere.org/fhir/Patient/example", set()),
    ("Appointment", "patient=Patient/muller", {"evening"}),
    ("Appointment", "patient=Patient/nobody", set()),
    ("Appointment", "patient=Practitioner/example", set()),  # patient only holds Patient actors
    ("Appointment", "patient:Patient=muller", {"evening"}),
    ("Appointment", "practitioner=Practitioner/f202", {"2docs"}),
    ("Appointment", "practitioner=example", {"example", "2docs"}),
    ("Appointment", "location=1", {"example", "examplereq"}),
    ("Appointment", "location=Location/2", {"evening"}),
    ("Appointment", "actor=example", {"example", "2docs", "examplereq"}),  # Patient and Practitioner
    ("Appointment", "actor:Practitioner=example", {"example", "2docs"}),
    ("Appointment", "actor:Location=1", {"example", "examplereq"}),
    ("Appointment", "actor:Location=Location/1", {"example", "examplereq"}),
    ("Appointment", "actor=Patient/muller,Location/1", {"evening", "example", "examplereq"}),
    ("Appointment", "patient=example&practitioner=f202", {"2docs"}),
    ("Appointment", "patient=example&location=2", set()),
    ("Appointment", "practitioner:missing=true", {"examplereq", "evening"}),
    ("Coverage", "beneficiary=Patient/4", {"9876B1"}),
    ("Coverage", "patient=5", {"7546D", "SP1234", "7547E"}),
    ("Coverage", "payor=Organization/2", {"9876B1", "7546D", "muller-cov"}),
    ("Coverage", "payor=Patient/5", {"SP1234"}),
    ("Coverage", "payor:Patient=5", {"SP1234"}),
    ("Coverage", "payor=2", {"9876B1", "7546D", "muller-cov"}),
    ("Coverage", "policy-holder=http://benefitsinc.com/FHIR/Organization/CBI35", {"9876B1"}),
    ("Coverage", "policy-holder=http://benefitsinc.com/FHIR/Organization/OTHER", set()),
    # a reference written with our own base URL is a local reference
    ("Coverage", "subscriber=Patient/example", {"muller-cov"}),
    ("Coverage", f"subscriber={BASE}/Patient/example", {"muller-cov"}),
    ("Coverage", "subscriber=Patient/5&beneficiary=Patient/5&payor=Patient/5", {"SP1234"}),
    ("DocumentReference", "subject=Patient/xcda", {"example"}),
    ("DocumentReference", "patient=xcda", {"example"}),
    ("DocumentReference", "subject:Patient=muller", {"muller-note"}),
    ("DocumentReference", "subject:Group=muller", set()),
    ("DocumentReference", "author=Patient/example", {"muller-note"}),
    ("DocumentReference", "author=Practitioner/xcda1", {"example"}),
    ("DocumentReference", "author=a2", set()),  # "#a2" is contained, not indexed
]


@pytest.mark.parametrize("rtype,query,expected", CASES, ids=[f"{t}?{q}" for t, q, _ in CASES])
def test_reference_search(seeded, rtype, query, expected):
    assert seeded.ids(rtype, query) == expected


@pytest.mark.parametrize("query", ["patient:Practitioner=example",  # not a target of patient
                                   "patient:identifier=x",  # :identifier is not supported
                                   "patient=Patient/1/2",
                                   "patient=/example"])
def test_bad_reference_values_are_refused(seeded, query):
    with pytest.raises(BadRequest) as caught:
        seeded.search("Appointment", query)
    assert caught.value.expression and caught.value.expression[0].startswith("patient")
