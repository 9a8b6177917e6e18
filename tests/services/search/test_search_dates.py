"""Date search (R4 search.html#date and #prefix): every prefix at year, month, day and dateTime
precision, compared as ranges; dateTimes with an offset are compared in UTC."""
from __future__ import annotations

import pytest

ALL_WITH_BIRTHDATE = {"example", "f001", "f201", "glossy", "mom", "newborn", "pat3", "pat4",
                      "xds", "ch-example", "infant-twin-1", "muller"}
BIRTHDATE = [
    # day precision (birthdate 1974-12-25 is the whole day)
    ("birthdate=1974-12-25", {"example", "ch-example"}),
    ("birthdate=eq1974-12-25", {"example", "ch-example"}),
    ("birthdate=1974-12-24", set()),
    ("birthdate=ne1974-12-25", ALL_WITH_BIRTHDATE - {"example", "ch-example"}),
    ("birthdate=gt1982-01-23", {"pat4", "newborn", "infant-twin-1"}),
    ("birthdate=ge1982-01-23", {"pat3", "pat4", "newborn", "infant-twin-1"}),
    ("birthdate=lt1944-11-17", {"glossy"}),
    ("birthdate=le1944-11-17", {"glossy", "f001"}),
    ("birthdate=sa1982-01-23", {"pat4", "newborn", "infant-twin-1"}),
    ("birthdate=eb1944-11-17", {"glossy"}),
    # year precision
    ("birthdate=1973", {"mom", "muller"}),  # 1973-06 lies inside 1973
    ("birthdate=1982", {"pat3", "pat4"}),
    ("birthdate=ne1982", ALL_WITH_BIRTHDATE - {"pat3", "pat4"}),
    ("birthdate=gt2016", {"newborn", "infant-twin-1"}),
    ("birthdate=ge2017", {"newborn", "infant-twin-1"}),
    ("birthdate=lt1945", {"glossy", "f001"}),
    ("birthdate=le1944", {"glossy", "f001"}),
    ("birthdate=sa2016", {"newborn", "infant-twin-1"}),
    ("birthdate=eb1945", {"glossy", "f001"}),
    # month precision, against a day and a month (muller's birthDate is 1973-06)
    ("birthdate=1973-06", {"muller"}),
    ("birthdate=1973-05", {"mom"}),
    ("birthdate=gt1973-05", ALL_WITH_BIRTHDATE - {"mom", "glossy", "f001", "f201", "xds"}),
    ("birthdate=ge1973-06", ALL_WITH_BIRTHDATE - {"mom", "glossy", "f001", "f201", "xds"}),
    ("birthdate=lt1973-06", {"mom", "glossy", "f001", "f201", "xds"}),
    ("birthdate=le1973-05", {"mom", "glossy", "f001", "f201", "xds"}),
    ("birthdate=sa1973-05", ALL_WITH_BIRTHDATE - {"mom", "glossy", "f001", "f201", "xds"}),
    ("birthdate=eb1973-06", {"mom", "glossy", "f001", "f201", "xds"}),
    # a day inside a month-precision value: the day does not contain the month...
    ("birthdate=1973-06-15", set()),
    ("birthdate=ne1973-06-15", ALL_WITH_BIRTHDATE),
    # ...but the month overlaps the ranges above and below the day
    ("birthdate=gt1973-06-15&birthdate=lt1973-06-15", {"muller"}),
    # ge is "gt or eq": the range above June 30 does not overlap June, nor does June 30 hold it
    ("birthdate=ge1973-06-30&birthdate=le1973-06-01", set()),
    ("birthdate=ge1973-06-29&birthdate=le1973-06-02", {"muller"}),
    ("birthdate=sa1973-06-15", ALL_WITH_BIRTHDATE - {"mom", "glossy", "f001", "f201", "xds", "muller"}),
    # dateTime precision against the whole-day birthdate
    ("birthdate=eq1974-12-25T12:00:00Z", set()),
    ("birthdate=gt1974-12-25T12:00:00Z", ALL_WITH_BIRTHDATE - {"glossy", "f001", "f201", "xds", "mom", "muller"}),
    ("birthdate=lt1974-12-25T12:00:00Z", {"example", "ch-example", "glossy", "f001", "f201", "xds", "mom", "muller"}),
    ("birthdate=ge1974-12-25T23:59:58Z", ALL_WITH_BIRTHDATE - {"glossy", "f001", "f201", "xds", "mom", "muller"}),
    # at the day's last second nothing of the day lies above it, and the second does not hold the day
    ("birthdate=ge1974-12-25T23:59:59Z", {"pat3", "pat4", "newborn", "infant-twin-1"}),
    # OR and AND
    ("birthdate=1974-12-25,1944-11-17", {"example", "ch-example", "f001"}),
    ("birthdate=ge1970&birthdate=lt1980", {"example", "ch-example", "mom", "muller"}),
    ("birthdate:missing=true", {"pat1", "pat2", "longname"}),
]

# Appointment date is start..end: example 2013-12-10T09:00Z..11:00Z, 2docs 2013-12-09T09:00Z..11:00Z,
# evening 2024-05-01T22:30-04:00..23:30-04:00 = 2024-05-02T02:30Z..03:30Z; examplereq has none.
APPOINTMENT = [
    ("date=2013-12-10", {"example"}),
    ("date=2013-12", {"example", "2docs"}),
    ("date=2013", {"example", "2docs"}),
    ("date=2024-05-02", {"evening"}),  # the UTC day
    ("date=2024-05-01", set()),
    ("date=ne2013-12", {"evening"}),
    ("date=eq2013-12-10T09:00:00Z", set()),  # a second does not contain two hours
    ("date=gt2013-12-10T10:00Z", {"example", "evening"}),  # still running at 10:00
    ("date=lt2013-12-10T10:00Z", {"example", "2docs"}),  # started before 10:00
    ("date=ge2013-12-10T10:59Z", {"example", "evening"}),
    ("date=ge2013-12-10T11:00Z", {"evening"}),  # example ends at 11:00:00, inside that minute
    ("date=le2013-12-09T09:00:30Z", {"2docs"}),
    ("date=le2013-12-09T09:00Z", set()),  # 2docs starts in that minute and ends after it
    ("date=sa2013-12-10T08:00Z", {"example", "evening"}),  # starts after
    ("date=sa2013-12-10T09:00Z", {"evening"}),
    ("date=eb2013-12-10T10:00Z", {"2docs"}),  # ends before
    ("date=eb2013-12-10T11:00:01Z", {"2docs", "example"}),
    ("date=gt2024-05-01T23:00:00-04:00", {"evening"}),  # 03:00Z, within 02:30Z..03:30Z
    ("date=lt2024-05-01T22:00:00-04:00", {"example", "2docs"}),  # 02:00Z: before evening starts
    ("date=ge2013-12-10&date=lt2013-12-11", {"example"}),
    ("date:missing=true", {"examplereq"}),
]
# DocumentReference example: 2005-12-24T09:43:41+11:00 = 2005-12-23T22:43:41Z; muller-note 2024-05-02T10:00Z
DOCUMENT = [
    ("date=2005-12-23", {"example"}),
    ("date=2005-12-24", set()),
    ("date=2005-12-24T09:43:41%2B11:00", {"example"}),  # "+" encoded
    ("date=2005-12-23T22:43:41Z", {"example"}),
    ("date=2005-12-23T22:43Z", {"example"}),
    ("date=2005-12-23T22:44Z", set()),
    ("date=gt2005-12-23T22:43:41.500Z", {"example", "muller-note"}),  # within the stored second
    ("date=eq2005-12-23T22:43:41.500Z", set()),
    ("date=ge2024-05-02T10:00:00.000Z", {"muller-note"}),
    ("date=lt2024", {"example"}),
]


@pytest.mark.parametrize("query,expected", BIRTHDATE, ids=[q for q, _ in BIRTHDATE])
def test_birthdate(seeded, query, expected):
    assert seeded.ids("Patient", query) == expected


@pytest.mark.parametrize("query,expected", APPOINTMENT, ids=[q for q, _ in APPOINTMENT])
def test_appointment_date_range(seeded, query, expected):
    assert seeded.ids("Appointment", query) == expected


@pytest.mark.parametrize("query,expected", DOCUMENT, ids=[q for q, _ in DOCUMENT])
def test_document_date(seeded, query, expected):
    assert seeded.ids("DocumentReference", query) == expected


def test_last_updated_on_every_type(seeded):
    bundle = seeded.search("Patient", "_id=example")
    stamp = bundle["entry"][0]["resource"]["meta"]["lastUpdated"]  # e.g. 2024-01-01T08:01:00.000Z
    assert seeded.ids("Patient", f"_lastUpdated={stamp}") == {"example"}
    assert seeded.ids("Patient", f"_lastUpdated={stamp[:16]}Z") == {"example"}  # minute precision
    assert "example" not in seeded.ids("Patient", f"_lastUpdated=gt{stamp}")
    assert "example" in seeded.ids("Patient", f"_lastUpdated=le{stamp}")
    assert seeded.ids("Binary", "_lastUpdated=2024-01-01") == {"blob"}
    assert seeded.ids("Binary", "_lastUpdated=lt2024") == set()
    everything = seeded.ids("Coverage", "")
    assert seeded.ids("Coverage", "_lastUpdated=2024") == everything
    assert seeded.ids("Coverage", "_lastUpdated=ne2024") == set()
