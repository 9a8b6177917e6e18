"""Result parameters (R4 search.html#return): _count, _sort, _summary, _elements, _total,
_include/_revinclude, unknown parameters (lenient vs strict), compartments and the Bundle."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from search_seed import BASE, matches

from gateway.errors import BadRequest, NotFound

PATIENTS = 15


def _modes(bundle):
    return [(e["resource"]["resourceType"], e["resource"]["id"], e["search"]["mode"])
            for e in bundle.get("entry", [])]


def _link(bundle, relation):
    return next((l["url"] for l in bundle["link"] if l["relation"] == relation), None)


def test_bundle_shape(seeded):
    bundle = seeded.search("Patient", "family=chalmers")
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == 1
    entry = bundle["entry"][0]
    assert entry["fullUrl"] == f"{BASE}/Patient/example"
    assert entry["search"] == {"mode": "match"}
    assert entry["resource"]["meta"]["versionId"] == "1"
    assert _link(bundle, "self") == f"{BASE}/Patient?family=chalmers"
    assert _link(bundle, "next") is None and _link(bundle, "previous") is None


def test_count_limits_the_page_and_total_counts_everything(seeded):
    bundle = seeded.search("Patient", "_count=4")
    assert len(bundle["entry"]) == 4 and bundle["total"] == PATIENTS
    assert dict(parse_qsl(urlsplit(_link(bundle, "next")).query))["_count"] == "4"
    assert len(seeded.search("Patient", "", default_count=3)["entry"]) == 3
    capped = seeded.search("Patient", "_count=1000", max_count=5)
    assert len(capped["entry"]) == 5
    assert "_count=5" in _link(capped, "self")  # the link says what was served


def test_count_zero_returns_the_total_only(seeded):
    bundle = seeded.search("Patient", "_count=0&gender=female")
    assert bundle["total"] == 4 and "entry" not in bundle


def test_summary_count_returns_the_total_only(seeded):
    bundle = seeded.search("Appointment", "_summary=count&status=booked")
    assert bundle["total"] == 3 and "entry" not in bundle
    assert _link(bundle, "self") == f"{BASE}/Appointment?_summary=count&status=booked"


def test_total_none_leaves_total_out(seeded):
    bundle = seeded.search("Patient", "_total=none&_count=2")
    assert "total" not in bundle and len(bundle["entry"]) == 2
    assert seeded.search("Patient", "_total=accurate&_count=1")["total"] == PATIENTS


def test_summary_true_keeps_summary_elements_and_tags_subsetted(seeded):
    resource = seeded.search("Patient", "_id=example&_summary=true")["entry"][0]["resource"]
    assert {"name", "birthDate", "gender", "identifier"} <= set(resource)
    assert "contact" not in resource and "_birthDate" not in resource
    assert {"code": "SUBSETTED"}.items() <= resource["meta"]["tag"][0].items()
    data = seeded.search("Patient", "_id=example&_summary=data")["entry"][0]["resource"]
    assert "contact" in data and "text" not in data
    full = seeded.search("Patient", "_id=example&_summary=false")["entry"][0]["resource"]
    assert "contact" in full and "tag" not in full["meta"]


def test_elements_keeps_the_listed_and_mandatory_elements(seeded):
    patient = seeded.search("Patient", "_id=example&_elements=birthDate,gender")["entry"][0]["resource"]
    assert set(patient) == {"resourceType", "id", "meta", "birthDate", "gender"}
    assert patient["meta"]["tag"][0]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
    assert patient["meta"]["versionId"] == "1"
    appointment = seeded.search("Appointment", "_id=example&_elements=start")["entry"][0]["resource"]
    # status and participant are mandatory (1..1, 1..*): kept so the resource stays valid
    assert set(appointment) == {"resourceType", "id", "meta", "start", "status", "participant"}


SORTS = [
    ("Patient", "_sort=family&family=notsowell,levin,doe", ["xds", "glossy", "pat3", "pat4"]),
    # ties break by pk in the direction of the first key (pat3 was stored before pat4)
    ("Patient", "_sort=-family&family=notsowell,levin,doe", ["pat4", "pat3", "glossy", "xds"]),
    ("Patient", "_sort=family,-birthdate&family=notsowell,levin", ["glossy", "pat4", "pat3"]),
    ("Patient", "_sort=birthdate&_id=pat4,glossy,example,infant-twin-1", ["glossy", "example", "pat4", "infant-twin-1"]),
    ("Patient", "_sort=-birthdate&_id=pat4,glossy,example,infant-twin-1", ["infant-twin-1", "pat4", "example", "glossy"]),
    # a resource sorts by its lowest value ascending (R4 search.html#sort): bor, chalmers, doe
    ("Patient", "_sort=name&family=chalmers,doe,bor", ["f201", "example", "xds"]),
    ("Patient", "_sort=given&family=chalmers,doe,bor", ["example", "xds", "f201"]),  # james, john, roelof
    ("Patient", "_sort=-given&family=chalmers,doe,bor", ["f201", "example", "xds"]),  # roelof, peter, john
    ("Patient", "_sort=_lastUpdated&_id=pat2,example,xds", ["example", "pat2", "xds"]),
    ("Patient", "_sort=-_lastUpdated&_id=pat2,example,xds", ["xds", "pat2", "example"]),
    ("Patient", "_sort=_id&_id=pat2,example,xds", ["example", "pat2", "xds"]),
    ("Appointment", "_sort=date", ["examplereq", "2docs", "example", "evening"]),  # no date first
    ("Appointment", "_sort=-date", ["evening", "example", "2docs", "examplereq"]),
    ("DocumentReference", "_sort=-date", ["muller-note", "example"]),
]


@pytest.mark.parametrize("rtype,query,expected", SORTS, ids=[f"{t}?{q}" for t, q, _ in SORTS])
def test_sort(seeded, rtype, query, expected):
    assert matches(seeded.search(rtype, query)) == expected


def test_sorted_pages_concatenate_to_the_sorted_list(seeded):
    whole = matches(seeded.search("Patient", "_sort=-birthdate,family&_count=50"))
    walked, bundle = [], seeded.search("Patient", "_sort=-birthdate,family&_count=4")
    while bundle is not None:
        walked += matches(bundle)
        bundle = seeded.follow(bundle, "next")
    assert walked == whole and len(whole) == PATIENTS


def test_include_adds_referenced_resources_once(seeded):
    bundle = seeded.search("Appointment", "_include=Appointment:patient")
    assert _modes(bundle) == [("Appointment", "example", "match"), ("Appointment", "2docs", "match"),
                              ("Appointment", "examplereq", "match"), ("Appointment", "evening", "match"),
                              ("Patient", "example", "include"), ("Patient", "muller", "include")]
    assert bundle["total"] == 4  # includes are not counted (R4 search.html#total)
    include = bundle["entry"][-1]
    assert include["fullUrl"] == f"{BASE}/Patient/muller"


@pytest.mark.parametrize("rtype,query,included", [
    ("Appointment", "_id=2docs&_include=Appointment:actor", {"example"}),  # Practitioners are not stored
    ("Appointment", "_id=evening&_include=Appointment:actor:Patient", {"muller"}),
    ("Appointment", "_id=evening&_include=Appointment:actor:Location", set()),
    ("Coverage", "_include=Coverage:beneficiary", {"muller"}),
    ("Coverage", "_id=muller-cov&_include=Coverage:beneficiary&_include=Coverage:subscriber", {"muller", "example"}),
    ("DocumentReference", "_include=DocumentReference:subject", {"muller"}),
    ("Patient", "_id=example&_include=Appointment:patient", set()),  # not a Patient param: nothing
])
def test_include_variants(seeded, rtype, query, included):
    bundle = seeded.search(rtype, query)
    assert {i for _t, i, mode in _modes(bundle) if mode == "include"} == included


def test_revinclude_adds_referring_resources(seeded):
    bundle = seeded.search("Patient", "_id=example&_revinclude=Appointment:patient")
    assert _modes(bundle) == [("Patient", "example", "match"), ("Appointment", "example", "include"),
                              ("Appointment", "2docs", "include"), ("Appointment", "examplereq", "include")]
    both = seeded.search("Patient", "_id=muller&_revinclude=Coverage:beneficiary"
                                    "&_revinclude=DocumentReference:subject&_revinclude=Appointment:actor")
    assert {(t, i) for t, i, m in _modes(both) if m == "include"} == {
        ("Coverage", "muller-cov"), ("DocumentReference", "muller-note"), ("Appointment", "evening")}


def test_match_is_not_repeated_as_include(seeded):
    # Patient/example and Patient/muller both match and are referenced by the Coverage
    bundle = seeded.search("Patient", "_id=example,muller&_revinclude=Coverage:subscriber")
    assert [m for _t, _i, m in _modes(bundle)].count("match") == 2
    assert ("Coverage", "muller-cov", "include") in _modes(bundle)
    assert len({(t, i) for t, i, _m in _modes(bundle)}) == len(bundle["entry"])


def test_unknown_parameter_lenient_warns_and_is_left_out_of_self(seeded):
    bundle = seeded.search("Patient", "family=chalmers&shoe-size=9&_format=json&_pretty=true")
    assert matches(bundle) == ["example"]
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1
    issue = outcome[0]["resource"]["issue"][0]
    assert issue["severity"] == "warning" and issue["expression"] == ["shoe-size"]
    assert _link(bundle, "self") == f"{BASE}/Patient?family=chalmers"  # no _format/_pretty either


def test_format_and_pretty_are_ignored_silently(seeded):
    bundle = seeded.search("Patient", "_id=example&_format=json&_pretty=true", handling="strict")
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["match"]


def test_unknown_parameter_strict_is_refused(seeded):
    with pytest.raises(BadRequest) as caught:
        seeded.search("Patient", "family=chalmers&shoe-size=9", handling="strict")
    assert caught.value.expression == ("shoe-size",)
    with pytest.raises(BadRequest):
        seeded.search("Binary", "identifier=x", handling="strict")  # Binary has only _id
    assert seeded.ids("Binary", "identifier=x") == {"blob"}  # lenient: ignored


def test_unknown_type_is_not_found(seeded):
    with pytest.raises(NotFound):
        seeded.search("Observation", "")


COMPARTMENT = [
    ("Patient", "example", "", {"example"}),
    ("Patient", "example", "family=levin", set()),
    ("Appointment", "example", "", {"example", "2docs", "examplereq"}),
    ("Appointment", "muller", "", {"evening"}),
    ("Appointment", "muller", "status=proposed", set()),
    ("Coverage", "muller", "", {"muller-cov"}),
    ("Coverage", "example", "", {"muller-cov"}),  # as subscriber (R4 compartment: subscriber)
    ("Coverage", "5", "", {"7546D", "SP1234", "7547E"}),
    ("DocumentReference", "muller", "", {"muller-note"}),
    ("DocumentReference", "example", "", {"muller-note"}),  # as author
    ("DocumentReference", "xcda", "", {"example"}),
    ("Binary", "example", "", set()),
]


@pytest.mark.parametrize("rtype,patient,query,expected", COMPARTMENT,
                         ids=[f"{p}:{t}?{q}" for t, p, q, _ in COMPARTMENT])
def test_compartment_restricts_results(seeded, rtype, patient, query, expected):
    bundle = seeded.search(rtype, query, compartment=("Patient", patient))
    assert set(matches(bundle)) == expected and bundle["total"] == len(expected)


def test_compartment_restricts_included_resources_too(seeded):
    # muller-cov's subscriber is Patient/example: not in muller's compartment, so not included
    bundle = seeded.search("Coverage", "_include=Coverage:subscriber&_include=Coverage:beneficiary",
                           compartment=("Patient", "muller"))
    assert _modes(bundle) == [("Coverage", "muller-cov", "match"), ("Patient", "muller", "include")]
    rev = seeded.search("Patient", "_revinclude=Appointment:actor", compartment=("Patient", "example"))
    assert {i for t, i, m in _modes(rev) if m == "include"} == {"example", "2docs", "examplereq"}
