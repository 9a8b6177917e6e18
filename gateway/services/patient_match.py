"""The duplicate-patient matcher: two Patients scored field by field (pure, deterministic).

May import: stdlib, jellyfish, gateway.services.patient_features. The shape is Fellegi-Sunter
record linkage as EMPIs use it: each field compared ends in an outcome (agree, close,
transposed, typo, disagree, or missing, which weighs nothing), each outcome has a weight
(roughly log2 of how much likelier that outcome is for the same person than for two people),
the weights add up, and a logistic curve turns the sum into a score in [0, 1]. The grade is
the FHIR match-grade code (R4 valueset-match-grade: certain, probable, possible,
certainly-not) from thresholds the settings hold. A Match lists each field and its outcome,
never a value: reasons may be stored and shown without disclosing PHI.

Calibration, with the defaults (possible 0.55, probable 0.80, certain 0.95): the same person
registered twice with name, birth date, gender, phone and e-mail alike is certain; name,
birth date and gender alike with a typo or a swapped day/month is probable; twins (same
family, birth date, address; other given names) stay below certain; a mother and child
(same family and address, other given name and birth date) are not flagged. An identifier
equal in the same system is near-proof: such a pair is graded at least possible whatever the
rest says (it is either a duplicate or an identity mix-up; a person must look at both).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import jellyfish

from gateway.services.patient_features import Features, full_date, phonetic

# Outcome weights per field (bits of evidence). Disagreement on phone, e-mail and address
# costs little: people move and change numbers, and a duplicate is often made years later.
WEIGHTS = {
    "identifier": {"agree": 20.0, "same-value": 3.0, "disagree": 0.0},
    "family": {"agree": 4.5, "close": 3.0, "disagree": -2.0},
    "given": {"agree": 4.0, "close": 2.5, "disagree": -3.0},
    "birthDate": {"agree": 5.0, "transposed": 3.5, "typo": 2.5, "partial": 1.0, "disagree": -5.0},
    "gender": {"agree": 0.5, "disagree": -2.0},
    "phone": {"agree": 3.0, "disagree": -0.5},
    "email": {"agree": 3.5, "disagree": -0.5},
    "postalCode": {"agree": 1.5, "disagree": -0.5},
    "addressLine": {"agree": 2.0, "disagree": -0.5},
}
_MIDPOINT, _SPREAD = 12.0, 2.0  # total weight scoring 0.5, and how fast the curve rises
GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"

# A few common English nicknames (optional evidence: a nickname is "close", never "agree").
_NICKNAMES = {
    "bill": "william", "billy": "william", "will": "william", "liam": "william",
    "bob": "robert", "bobby": "robert", "rob": "robert", "robbie": "robert",
    "dick": "richard", "rick": "richard", "rich": "richard", "jim": "james", "jimmy": "james",
    "jamie": "james", "mike": "michael", "mick": "michael", "tom": "thomas", "tommy": "thomas",
    "tony": "anthony", "joe": "joseph", "joey": "joseph", "jack": "john", "johnny": "john",
    "jon": "john", "dave": "david", "dan": "daniel", "danny": "daniel", "steve": "stephen",
    "steven": "stephen", "chris": "christopher", "matt": "matthew", "nick": "nicholas",
    "sam": "samuel", "ben": "benjamin", "alex": "alexander", "andy": "andrew", "ed": "edward",
    "ted": "edward", "pete": "peter", "liz": "elizabeth", "beth": "elizabeth",
    "betty": "elizabeth", "kate": "katherine", "katie": "katherine", "cathy": "catherine",
    "peggy": "margaret", "maggie": "margaret", "meg": "margaret", "sue": "susan",
    "jenny": "jennifer", "jen": "jennifer", "patty": "patricia", "trish": "patricia",
    "becky": "rebecca", "debbie": "deborah", "vicky": "victoria", "mandy": "amanda",
}


@dataclass(frozen=True)
class Thresholds:
    """Lower bounds of the grades; a pair scoring at or above `possible` is queued for review."""

    possible: float = 0.55
    probable: float = 0.80
    certain: float = 0.95


@dataclass(frozen=True)
class FieldResult:
    field: str
    outcome: str  # agree | close | same-value | transposed | typo | partial | disagree | missing
    weight: float


@dataclass(frozen=True)
class Match:
    score: float
    grade: str  # certain | probable | possible | certainly-not
    fields: tuple[FieldResult, ...]

    def reasons(self) -> list[dict]:
        """Which fields agreed or disagreed and how much each weighed (no values: no PHI)."""
        return [{"field": f.field, "outcome": f.outcome, "weight": f.weight}
                for f in self.fields if f.outcome != "missing"]


def _close_text(a: str, b: str) -> bool:
    """One typing slip apart, or sounding alike (NYSIIS), or Jaro-Winkler >= 0.92."""
    if min(len(a), len(b)) >= 4 and jellyfish.damerau_levenshtein_distance(a, b) <= 1:
        return True
    return phonetic(a) == phonetic(b) or jellyfish.jaro_winkler_similarity(a, b) >= 0.92


def _family(a: Features, b: Features) -> str:
    if not a.families or not b.families:
        return "missing"
    if a.families & b.families:
        return "agree"
    if a.family_parts & b.family_parts:  # "Smith-Jones" and "Smith": a hyphenated name
        return "close"
    return "close" if any(_close_text(x, y) for x in a.families for y in b.families) else "disagree"


def _given_close(x: str, y: str) -> bool:
    if _NICKNAMES.get(x, x) == _NICKNAMES.get(y, y):
        return True
    if len(x) == 1 or len(y) == 1:  # an initial
        return x[0] == y[0]
    return _close_text(x, y)


def _given(a: Features, b: Features) -> str:
    if not a.first_givens or not b.first_givens:
        return "missing"
    if a.first_givens & b.first_givens:
        return "agree"
    if a.first_givens & b.givens or b.first_givens & a.givens:  # known by a middle name
        return "close"
    close = any(_given_close(x, y) for x in a.first_givens for y in b.first_givens)
    return "close" if close else "disagree"


def _birth_date(a: str, b: str) -> str:
    if not a or not b:
        return "missing"
    if a == b:
        return "agree"
    da, db = full_date(a), full_date(b)
    if da is None or db is None:  # a partial date: only the year can be compared
        return "partial" if a[:4] == b[:4] else "disagree"
    if da[0] == db[0] and da[1] == db[2] and da[2] == db[1]:
        return "transposed"  # 03/04 entered as 04/03
    # one digit wrong, or two neighbouring digits swapped (1974 / 1947)
    if jellyfish.damerau_levenshtein_distance("".join(da), "".join(db)) == 1:
        return "typo"
    return "disagree"


def _identifier(a: Features, b: Features) -> str:
    if not a.identifiers or not b.identifiers:
        return "missing"
    if {i for i in a.identifiers if i[0]} & {i for i in b.identifiers if i[0]}:
        return "agree"
    if {v for _s, v in a.identifiers} & {v for _s, v in b.identifiers}:
        return "same-value"
    shared = {s for s, _v in a.identifiers if s} & {s for s, _v in b.identifiers if s}
    return "disagree" if shared else "missing"


def _sets(a: frozenset, b: frozenset) -> str:
    if not a or not b:
        return "missing"
    return "agree" if a & b else "disagree"


def _gender(a: str, b: str) -> str:
    if not a or not b:
        return "missing"
    return "agree" if a == b else "disagree"


def compare(a: Features, b: Features) -> tuple[FieldResult, ...]:
    outcomes = (
        ("identifier", _identifier(a, b)), ("family", _family(a, b)), ("given", _given(a, b)),
        ("birthDate", _birth_date(a.birth_date, b.birth_date)), ("gender", _gender(a.gender, b.gender)),
        ("phone", _sets(a.phones, b.phones)), ("email", _sets(a.emails, b.emails)),
        ("postalCode", _sets(a.postal_codes, b.postal_codes)),
        ("addressLine", _sets(a.address_lines, b.address_lines)),
    )
    return tuple(FieldResult(name, outcome, WEIGHTS[name].get(outcome, 0.0))
                 for name, outcome in outcomes)


def grade_of(score: float, thresholds: Thresholds) -> str:
    if score >= thresholds.certain:
        return "certain"
    if score >= thresholds.probable:
        return "probable"
    return "possible" if score >= thresholds.possible else "certainly-not"


def score(a: Features, b: Features, thresholds: Thresholds = Thresholds()) -> Match:
    """Compare two Patients' features; symmetric and deterministic."""
    fields = compare(a, b)
    total = sum(f.weight for f in fields)
    value = 1.0 / (1.0 + math.exp(-(total - _MIDPOINT) / _SPREAD))
    if fields[0].outcome == "agree":  # same system and value: a person must look at it
        value = max(value, thresholds.possible)
    value = round(value, 4)
    return Match(value, grade_of(value, thresholds), fields)


def excluded(a: Features, a_id: str | None, b: Features, b_id: str) -> bool:
    """Pairs never flagged: either record already merged away, or the two already linked."""
    return bool(a.replaced_by or b.replaced_by or (a_id and a_id in b.linked) or b_id in a.linked)
