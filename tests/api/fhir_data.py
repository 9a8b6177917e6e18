"""Realistic FHIR bodies for API tests (built fresh per call so tests cannot share state)."""
from __future__ import annotations

import copy

FHIR_JSON = "application/fhir+json"

_PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"use": "usual", "system": "urn:oid:2.16.840.1.113883.3.72.5.9.1", "value": "MRN-1001"}],
    "active": True,
    "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
    "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work"},
                {"system": "email", "value": "peter.chalmers@example.org"}],
    "gender": "male",
    "birthDate": "1974-12-25",
    "address": [{"use": "home", "line": ["534 Erewhon St"], "city": "PleasantVille",
                 "state": "Vic", "postalCode": "3999"}],
}


def patient(**changes) -> dict:
    body = copy.deepcopy(_PATIENT)
    body.update(changes)
    return body


def appointment(patient_id: str, **changes) -> dict:
    body = {
        "resourceType": "Appointment",
        "identifier": [{"system": "urn:example:sched", "value": "APT-1"}],
        "status": "booked",
        "serviceType": [{"coding": [{"system": "http://example.org/service-type", "code": "57",
                                     "display": "Immunization"}]}],
        "start": "2026-12-10T09:00:00+10:00",
        "end": "2026-12-10T09:30:00+10:00",
        "participant": [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}],
    }
    body.update(changes)
    return body


def coverage(patient_id: str, **changes) -> dict:
    body = {
        "resourceType": "Coverage",
        "identifier": [{"system": "http://benefitsinc.com/certificate", "value": "12345"}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                             "code": "EHCPOL"}]},
        "subscriber": {"reference": f"Patient/{patient_id}"},
        "beneficiary": {"reference": f"Patient/{patient_id}"},
        "payor": [{"display": "Acme Health"}],
    }
    body.update(changes)
    return body


def document_reference(patient_id: str, binary_id: str, **changes) -> dict:
    body = {
        "resourceType": "DocumentReference",
        "identifier": [{"system": "urn:example:docs", "value": "DOC-1"}],
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "64290-0",
                             "display": "Insurance card"}]},
        "category": [{"coding": [{"system": "http://example.org/doc-category", "code": "intake"}]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "date": "2026-11-20T10:00:00Z",
        "content": [{"attachment": {"contentType": "application/pdf", "url": f"Binary/{binary_id}"}}],
    }
    body.update(changes)
    return body


def binary(data_b64: str = "JVBERi0xLjQKJcOkw7zDtsOfCg==") -> dict:
    return {"resourceType": "Binary", "contentType": "application/pdf", "data": data_b64}
