"""Token search (R4 search.html#token): code, system|code, |code, system|, :not, OR and AND,
on Identifier, CodeableConcept, Coding, code and ContactPoint values."""
from __future__ import annotations

import pytest

GENDER = "http://hl7.org/fhir/administrative-gender"
CASES = [
    # Identifier
    ("Patient", "identifier=12345", {"example"}),
    ("Patient", "identifier=123456", {"glossy", "pat2"}),
    ("Patient", "identifier=http://www.goodhealth.org/identifiers/mrn|123456", {"glossy"}),
    ("Patient", "identifier=urn:oid:0.1.2.3.4.5.6.7|", {"pat1", "pat2", "pat3", "pat4"}),
    ("Patient", "identifier=|123456", set()),  # both 123456 identifiers have a system
    ("Patient", "identifier=|NOSYS-1", {"longname"}),
    ("Patient", "identifier=NOSYS-1", {"longname"}),
    ("Patient", "identifier=http://other.org|123456", set()),
    ("Patient", "identifier=nosys-1", set()),  # identifier values are case-sensitive
    ("Patient", "identifier=123456,654321", {"glossy", "pat1", "pat2"}),  # OR
    ("Patient", "identifier=urn:oid:0.1.2.3.4.5.6.7|&identifier=123456", {"pat2"}),  # AND
    ("Patient", "identifier:not=urn:oid:0.1.2.3.4.5.6.7|",
     {"example", "f001", "f201", "glossy", "mom", "newborn", "xds", "ch-example",
      "infant-twin-1", "muller", "longname"}),
    # code (implicit system from the required binding)
    ("Patient", "gender=female", {"mom", "pat4", "infant-twin-1", "muller"}),
    ("Patient", f"gender={GENDER}|female", {"mom", "pat4", "infant-twin-1", "muller"}),
    ("Patient", f"gender={GENDER}|", {"example", "f001", "f201", "glossy", "mom", "newborn", "pat1",
                                      "pat2", "pat3", "pat4", "xds", "ch-example", "infant-twin-1",
                                      "muller", "longname"}),
    ("Patient", "gender=http://example.org|female", set()),
    ("Patient", "gender=other,unknown", {"pat2", "longname"}),
    ("Patient", "gender:not=male", {"mom", "pat4", "infant-twin-1", "muller", "pat2", "longname"}),
    ("Patient", "gender:not=male,female", {"pat2", "longname"}),
    ("Patient", "gender=Male", set()),
    # ContactPoint: phone / email filtered by ContactPoint.system, telecom any
    ("Patient", "phone=555-555-2003", {"mom", "muller"}),
    ("Patient", "phone=(03) 3410 5613", {"example"}),
    ("Patient", "phone=p.heuvel@gmail.com", set()),
    ("Patient", "email=p.heuvel@gmail.com", {"f001"}),
    ("Patient", "email=zoe@example.org,p.heuvel@gmail.com", {"f001", "muller"}),
    ("Patient", "email=555-555-2003", set()),
    ("Patient", "telecom=0648352638", {"f001"}),
    ("Patient", "telecom=zoe@example.org", {"muller"}),
    ("Patient", "phone=555-555-2003&email=zoe@example.org", {"muller"}),
    # _id on every type
    ("Patient", "_id=example", {"example"}),
    ("Patient", "_id=example,pat1,nope", {"example", "pat1"}),
    ("Patient", "_id=example&_id=pat1", set()),
    ("Binary", "_id=blob", {"blob"}),
    ("Binary", "_id:not=blob", set()),
    # CodeableConcept / Coding on the other types
    ("Appointment", "status=booked", {"example", "2docs", "evening"}),
    ("Appointment", "status=http://hl7.org/fhir/appointmentstatus|proposed", {"examplereq"}),
    ("Appointment", "status:not=booked", {"examplereq"}),
    ("Appointment", "service-type=52", {"example", "2docs"}),
    ("Appointment", "service-type=|52", {"example", "2docs"}),  # a Coding without system
    ("Appointment", "service-type=http://terminology.hl7.org/CodeSystem/service-type|124", {"evening"}),
    ("Appointment", "service-type=http://terminology.hl7.org/CodeSystem/service-type|52", set()),
    ("Appointment", "identifier=http://example.org/sampleappointment-identifier|123", {"examplereq"}),
    ("Appointment", "identifier=124", set()),
    ("Coverage", "status=active", {"9876B1", "7546D", "SP1234", "7547E"}),
    ("Coverage", "status=http://hl7.org/fhir/fm-status|cancelled", {"muller-cov"}),
    ("Coverage", "type=http://terminology.hl7.org/CodeSystem/v3-ActCode|EHCPOL", {"9876B1", "7546D", "7547E"}),
    ("Coverage", "type=pay", {"SP1234"}),
    ("Coverage", "identifier=http://payer.example/member|M-77", {"muller-cov"}),
    ("Coverage", "identifier=12345", {"9876B1"}),
    ("DocumentReference", "identifier=urn:ietf:rfc:3986|urn:oid:1.3.6.1.4.1.21367.2005.3.7", {"example"}),
    ("DocumentReference", "identifier=urn:oid:1.3.6.1.4.1.21367.2005.3.7.1234", {"example"}),
    ("DocumentReference", "type=http://loinc.org|34108-1", {"example"}),
    ("DocumentReference", "type=http://loinc.org|", {"example", "muller-note"}),
    ("DocumentReference", "category=History and Physical", {"example"}),
    ("DocumentReference", "status=current", {"example"}),
    ("DocumentReference", "status=superseded,entered-in-error", {"muller-note"}),
    # :missing (R4 search.html#missing)
    ("Patient", "identifier:missing=true", {"newborn"}),
    ("Appointment", "identifier:missing=false", {"examplereq"}),
]


@pytest.mark.parametrize("rtype,query,expected", CASES, ids=[f"{t}?{q}" for t, q, _ in CASES])
def test_token_search(seeded, rtype, query, expected):
    assert seeded.ids(rtype, query) == expected


def test_escaped_comma_is_part_of_the_value(seeded):
    # "a\,b" is one value, not two (R4 search.html#escaping)
    assert seeded.ids("Patient", [("identifier", "12345\\,654321")]) == set()
    assert seeded.ids("Patient", [("identifier", "12345,654321")]) == {"example", "pat1"}
