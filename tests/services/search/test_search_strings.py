"""String search (R4 search.html#string): case- and accent-insensitive starts-with by default,
:exact on the value as written, :contains anywhere; OR with commas, AND by repetition."""
from __future__ import annotations

import pytest
from search_seed import LONG_FAMILY

CASES = [
    ("family=chalmers", {"example"}),
    ("family=CHAL", {"example"}),
    ("family=windsor", {"example"}),  # a maiden name is a name too
    ("family=halmers", set()),  # starts-with, not contains
    ("family=chalmersx", set()),
    ("family=muller", {"muller"}),  # accent-insensitive: Müller
    ("family=MÜL", {"muller"}),
    ("family=mu", {"muller"}),
    ("family=van de", {"f001"}),
    ("family=notsowell", {"pat3", "pat4"}),
    ("family=chalmers,levin", {"example", "glossy"}),
    ("family:exact=Müller", {"muller"}),
    ("family:exact=muller", set()),
    ("family:exact=Müll", set()),
    ("family:exact=van de Heuvel", {"f001"}),
    ("family:contains=WOMAN", {"mom"}),
    ("family:contains=heuv", {"f001"}),
    ("family:contains=ülle", {"muller"}),
    ("family:contains=xyz", set()),
    ("given=pet", {"example"}),
    ("given=jim", {"example"}),
    ("given=zoe", {"muller"}),
    ("given=roelof o", {"f201"}),
    ("given=ana_", {"muller"}),
    ("given:contains=a_l", {"muller"}),  # "_" is a character, not a LIKE wildcard
    ("given:contains=t%s", {"longname"}),  # nor is "%"
    ("given:contains=a%", set()),
    ("given=peter&family=windsor", {"example"}),
    ("given=jim&family=levin", set()),
    ("name=jim", {"example"}),
    ("name=drs", {"f201"}),  # prefix
    ("name=msc", {"f001"}),  # suffix
    ("name=roel", {"f201"}),  # text and given
    ("name=张", {"ch-example"}),  # text only
    ("name=marche", set()),  # Patient.contact.name is not Patient.name
    ("name=bor", {"f201"}),
    ("name:exact=Roel", {"f201"}),
    ("name:contains=ald", {"pat1", "pat2"}),
    ("name=duck&name=d", {"pat1", "pat2"}),
    ("name=duck&gender=other", {"pat2"}),
    ("address-postalcode=3999", {"example"}),
    ("address-postalcode=1024", {"f001"}),
    ("address-postalcode=1024 rj", {"f001"}),
    ("address-postalcode:exact=44130", {"xds"}),
    ("address-postalcode=4413,8033", {"xds", "muller"}),
    ("address-postalcode=999", set()),
    ("family:missing=true", {"ch-example", "newborn"}),
]


@pytest.mark.parametrize("query,expected", CASES, ids=[q for q, _ in CASES])
def test_string_search(seeded, query, expected):
    assert seeded.ids("Patient", query) == expected


def test_values_longer_than_the_index_column_still_match(seeded):
    assert seeded.ids("Patient", [("family", LONG_FAMILY)]) == {"longname"}
    assert seeded.ids("Patient", [("family:exact", LONG_FAMILY)]) == {"longname"}
    assert seeded.ids("Patient", [("family", "lo" + "o" * 50)]) == {"longname"}
