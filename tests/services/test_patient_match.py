"""The duplicate matcher, table-driven: each case is a stored Patient and a newcomer, with the
grade the pair must get (and, where it matters, the outcome of one field). Also: the blocking
keys a near-duplicate must share with its original, symmetry, and reasons without values."""
from __future__ import annotations

import copy
import json

import pytest

from gateway.services.patient_features import blocking_keys, features, probe_keys, transposed
from gateway.services.patient_match import Thresholds, excluded, score

MRN = "urn:oid:2.16.840.1.113883.3.72.5.9.1"

BASE = {
    "resourceType": "Patient",
    "identifier": [{"system": MRN, "value": "MRN-1001"}],
    "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
    "telecom": [{"system": "phone", "value": "(03) 5555 6473"},
                {"system": "email", "value": "peter.chalmers@example.org"}],
    "gender": "male",
    "birthDate": "1974-12-25",
    "address": [{"line": ["534 Erewhon St"], "city": "PleasantVille", "postalCode": "3999"}],
}


def like(mrn: str = "MRN-2002", **changes) -> dict:
    """BASE registered again under a new MRN, with `changes`."""
    body = copy.deepcopy(BASE)
    body["identifier"] = [{"system": MRN, "value": mrn}]
    body.update(changes)
    return body


def minimal(family="Chalmers", given="Peter", birth="1974-12-25", **extra) -> dict:
    """What a busy front desk types: name, birth date, gender, one phone."""
    body = {"resourceType": "Patient", "name": [{"family": family, "given": [given]}],
            "birthDate": birth, "gender": "male",
            "telecom": [{"system": "phone", "value": "+61 3 5555 6473"}]}
    body.update(extra)
    return body


CASES = [
    # (case, stored, newcomer, grades allowed, (field, outcome) or None)
    ("same person, new MRN", BASE, like(), {"certain"}, ("identifier", "disagree")),
    ("same MRN, same system", BASE, copy.deepcopy(BASE), {"certain"}, ("identifier", "agree")),
    ("same MRN, identity mix-up", BASE, {"resourceType": "Patient", "identifier": BASE["identifier"],
                                         "name": [{"family": "Nguyen", "given": ["Linh"]}],
                                         "gender": "female", "birthDate": "2001-02-03"},
     {"possible"}, ("identifier", "agree")),
    ("MRN value in another system", minimal(identifier=[{"system": "urn:other", "value": "MRN-1001"}]),
     minimal(given="Pete", identifier=[{"system": MRN, "value": "MRN-1001"}]),
     {"probable", "certain"}, ("identifier", "same-value")),
    ("typo in family name", minimal(), minimal(family="Chalmres"), {"probable"}, ("family", "close")),
    ("transposed day/month", minimal(birth="1974-03-04"), minimal(birth="1974-04-03"),
     {"probable"}, ("birthDate", "transposed")),
    ("one digit off in the year", minimal(), minimal(birth="1975-12-25"), {"possible"}, ("birthDate", "typo")),
    ("swapped year digits", minimal(), minimal(birth="1947-12-25"), {"possible"}, ("birthDate", "typo")),
    ("accents and case", minimal(family="Müller", given="José"), minimal(family="MULLER", given="jose"),
     {"probable", "certain"}, ("family", "agree")),
    ("hyphenated family", minimal(family="Smith-Jones"), minimal(family="Smith"),
     {"probable"}, ("family", "close")),
    ("nickname", minimal(given="William"), minimal(given="Bill"), {"probable"}, ("given", "close")),
    ("maiden name", like("MRN-3003", name=[{"family": "Okafor", "given": ["Peter"]}]), like(),
     {"probable"}, ("family", "disagree")),
    ("twins", like("MRN-3003"), like(name=[{"family": "Chalmers", "given": ["Paul"]}], telecom=[BASE["telecom"][0]]),
     {"possible", "probable"}, ("given", "disagree")),
    ("twins sharing a parent's e-mail", like("MRN-3003"), like(name=[{"family": "Chalmers", "given": ["Paul"]}]),
     {"possible", "probable"}, ("given", "disagree")),
    ("mother and child", like("MRN-3003", name=[{"family": "Chalmers", "given": ["Ruth"]}], gender="female",
                              birthDate="1976-05-02"),
     like(name=[{"family": "Chalmers", "given": ["Lucy"]}], gender="female", birthDate="2010-09-14"),
     {"certainly-not"}, ("birthDate", "disagree")),
    ("common name, other birth date", minimal(family="Smith", given="John", birth="1980-01-01"),
     minimal(family="Smith", given="John", birth="1962-07-19", telecom=[{"system": "phone", "value": "0400 111 222"}]),
     {"certainly-not"}, ("birthDate", "disagree")),
    ("common name and birth date, nothing else alike",
     minimal(family="Smith", given="John", birth="1980-01-01",
             address=[{"line": ["1 High St"], "postalCode": "2000"}]),
     minimal(family="Smith", given="John", birth="1980-01-01", telecom=[{"system": "phone", "value": "0400 111 222"}],
             address=[{"line": ["9 Low Rd"], "postalCode": "3000"}]),
     {"possible", "certainly-not"}, ("phone", "disagree")),
    ("unrelated people", BASE, {"resourceType": "Patient", "name": [{"family": "Nguyen", "given": ["Linh"]}],
                                "gender": "female", "birthDate": "2001-02-03"}, {"certainly-not"}, None),
    ("partial birth date, same year", minimal(), minimal(birth="1974"), {"probable", "possible"},
     ("birthDate", "partial")),
]


@pytest.mark.parametrize("case, stored, newcomer, grades, field",
                         CASES, ids=[c[0] for c in CASES])
def test_grades(case, stored, newcomer, grades, field):
    match = score(features(stored), features(newcomer))
    assert match.grade in grades, (case, match.score, match.reasons())
    assert 0.0 <= match.score <= 1.0
    if field is not None:
        outcomes = {f.field: f.outcome for f in match.fields}
        assert outcomes[field[0]] == field[1], outcomes


def test_twins_are_never_certain_even_with_everything_else_alike():
    twin = like(name=[{"family": "Chalmers", "given": ["Paul", "James"]}])
    assert score(features(BASE), features(twin)).grade != "certain"


@pytest.mark.parametrize("case, stored, newcomer, grades, field", CASES, ids=[c[0] for c in CASES])
def test_scoring_is_symmetric_and_deterministic(case, stored, newcomer, grades, field):
    a, b = features(stored), features(newcomer)
    assert score(a, b) == score(b, a) == score(a, b)


def test_reasons_name_fields_never_values():
    match = score(features(BASE), features(like(name=[{"family": "Chalmres", "given": ["Peter"]}])))
    text = json.dumps(match.reasons())
    for value in ("Chalm", "Peter", "1974", "5555", "example.org", "Erewhon", "3999", "MRN"):
        assert value not in text
    assert {"field": "family", "outcome": "close", "weight": 3.0} in match.reasons()


def test_thresholds_decide_the_grade():
    pair = features(minimal()), features(minimal(family="Chalmres"))
    assert score(*pair).grade == "probable"
    assert score(*pair, Thresholds(0.5, 0.6, 0.7)).grade == "certain"
    assert score(*pair, Thresholds(0.9, 0.95, 0.99)).grade == "certainly-not"


def test_merged_or_linked_pairs_are_excluded():
    merged = like(link=[{"other": {"reference": "Patient/keep"}, "type": "replaced-by"}])
    assert excluded(features(BASE), "a", features(merged), "b")
    seealso = like(link=[{"other": {"reference": "Patient/a"}, "type": "seealso"}])
    assert excluded(features(BASE), "a", features(seealso), "b")
    assert not excluded(features(BASE), "a", features(like()), "b")


@pytest.mark.parametrize("newcomer", [
    minimal(family="Chalmres", birth="1974-12-26", telecom=[]),  # family typo + day slip
    minimal(birth="1975-12-25", telecom=[]),  # year slip
    minimal(family="Okafor", birth="1947-12-25", telecom=[]),  # new family name + year slip
    minimal(given="Pete", birth="1947-12-25", telecom=[]),  # nickname + year slip
    minimal(family="Okafor", given="Ann", birth="1990-01-01"),  # the phone alone
])
def test_a_near_duplicate_shares_a_blocking_key(newcomer):
    assert set(blocking_keys(minimal())) & set(probe_keys(newcomer))


def test_transposed_date_is_probed():
    assert transposed("1974-03-04") == "1974-04-03"
    assert transposed("1974-12-25") is None and transposed("1974-05-05") is None
    assert "dob:1974-04-03" in probe_keys(minimal(birth="1974-03-04"))
    assert set(blocking_keys(minimal(birth="1974-04-03"))) & set(probe_keys(minimal(birth="1974-03-04", family="X")))


def test_blocking_keys_carry_no_raw_names_and_are_bounded():
    keys = blocking_keys(BASE)
    assert not any("Chalmers" in k or "chalmers" in k.split(":")[1] for k in keys if k.startswith("f"))
    assert all(len(k) <= 255 for k in blocking_keys(minimal(telecom=[{"system": "email", "value": "x" * 400}])))
    assert blocking_keys({"resourceType": "Patient"}) == []
