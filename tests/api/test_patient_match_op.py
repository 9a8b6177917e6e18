"""Patient $match (FHIR R4 patient-operation-match): ranked candidates with search.score and
the match-grade extension; onlyCertainMatches and count; 400 OperationOutcome for bad input;
read-only (nothing queued), audited as a search; Patient read scope needed, no patient/ token."""
from __future__ import annotations

import base64
import json

import pytest

from fhir_data import FHIR_JSON, patient
from gateway.app import create_app
from gateway.settings import settings_from_mapping

MRN = "urn:oid:2.16.840.1.113883.3.72.5.9.1"
GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def _parameters(resource, **extra) -> dict:
    parameters = [{"name": "resource", "resource": resource}] if resource is not None else []
    if "only" in extra:
        parameters.append({"name": "onlyCertainMatches", "valueBoolean": extra["only"]})
    if "count" in extra:
        parameters.append({"name": "count", "valueInteger": extra["count"]})
    return {"resourceType": "Parameters", "parameter": parameters}


def _match(client, body, headers=None):
    return client.post("/fhir/Patient/$match", data=json.dumps(body), content_type=FHIR_JSON,
                       headers=headers or {})


def _store(client, body) -> str:
    response = client.post("/fhir/Patient", data=json.dumps(body), content_type=FHIR_JSON)
    assert response.status_code == 201
    return response.get_json()["id"]


def _without(body: dict, *keys: str) -> dict:
    return {k: v for k, v in body.items() if k not in keys}


@pytest.fixture
def world(client) -> dict:
    return {
        "same": _store(client, patient(identifier=[{"system": MRN, "value": "MRN-1"}])),
        "typo": _store(client, _without(patient(identifier=[{"system": MRN, "value": "MRN-2"}],
                                                name=[{"family": "Chalmres", "given": ["Peter"]}]),
                                        "telecom", "address")),
        "other": _store(client, {"resourceType": "Patient", "name": [{"family": "Nguyen", "given": ["Linh"]}],
                                 "gender": "female", "birthDate": "1999-07-21"}),
    }


def _grade(entry) -> str:
    [extension] = entry["search"]["extension"]
    assert extension["url"] == GRADE
    return extension["valueCode"]


def test_answers_ranked_candidates_with_grades(client, world):
    response = _match(client, _parameters(patient(identifier=[{"system": MRN, "value": "MRN-9"}])))
    assert response.status_code == 200, response.get_json()
    bundle = response.get_json()
    assert bundle["type"] == "searchset" and bundle["total"] == 2
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert ids == [world["same"], world["typo"]]  # best first; the unrelated one is not there
    scores = [e["search"]["score"] for e in bundle["entry"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert [_grade(e) for e in bundle["entry"]] == ["certain", "possible"]  # typo, fewer fields
    assert all(e["search"]["mode"] == "match" for e in bundle["entry"])
    assert bundle["entry"][0]["fullUrl"] == f"http://gateway.test/fhir/Patient/{world['same']}"


def test_only_certain_matches_and_count(client, world):
    probe = patient(identifier=[{"system": MRN, "value": "MRN-9"}])
    certain = _match(client, _parameters(probe, only=True)).get_json()
    assert [e["resource"]["id"] for e in certain["entry"]] == [world["same"]]
    assert [e["resource"]["id"] for e in _match(client, _parameters(probe, count=1)).get_json()["entry"]] == [world["same"]]
    _store(client, patient(identifier=[{"system": MRN, "value": "MRN-3"}]))  # a second certain one
    ambiguous = _match(client, _parameters(probe, only=True)).get_json()
    assert ambiguous["total"] == 0
    assert [e["search"]["mode"] for e in ambiguous["entry"]] == ["outcome"]
    assert ambiguous["entry"][0]["resource"]["issue"][0]["code"] == "multiple-matches"


def test_nothing_alike_is_an_empty_searchset(client, world):
    probe = {"resourceType": "Patient", "name": [{"family": "Zielinski", "given": ["Ola"]}], "birthDate": "1950-01-01"}
    bundle = _match(client, _parameters(probe)).get_json()
    assert bundle["total"] == 0 and "entry" not in bundle


def test_match_is_read_only_and_audited_as_a_search(client, world):
    queued = client.get("/admin/review?status=all").get_json()["total"]  # `typo` at its create
    _match(client, _parameters(patient()))
    assert client.get("/admin/review?status=all").get_json()["total"] == queued
    events = client.get(f"/fhir/AuditEvent?entity=Patient/{world['same']}&action=E").get_json()["entry"]
    searches = [e["resource"] for e in events if e["resource"]["subtype"][0]["code"] == "search-type"]
    queries = [base64.b64decode(ent["query"]).decode() for s in searches for ent in s["entity"] if "query" in ent]
    assert "Patient/$match" in queries


@pytest.mark.parametrize("body", [
    patient(),  # not a Parameters
    {"resourceType": "Parameters"},  # no resource
    {"resourceType": "Parameters", "parameter": [{"name": "resource", "valueString": "Chalmers"}]},
    _parameters({"resourceType": "Coverage", "status": "active"}),  # not a Patient
    _parameters(patient(birthDate="25/12/1974")),  # an invalid Patient
    _parameters(patient(gender="bloke")),
    _parameters(patient(), count=0),
    _parameters(patient(), only="yes"),
    {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient()},
                                                 {"name": "resource", "resource": patient()}]},
    {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient()},
                                                 {"name": "threshold", "valueDecimal": 0.5}]},
    [],
])
def test_bad_input_is_400(client, body):
    response = _match(client, body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_malformed_json_is_400(client):
    response = client.post("/fhir/Patient/$match", data="{", content_type=FHIR_JSON)
    assert response.status_code == 400 and response.get_json()["resourceType"] == "OperationOutcome"


def test_scopes(settings_overrides):
    app = create_app(settings_from_mapping(dict(settings_overrides, auth="on")))
    client, auth = app.test_client(), app.extensions["fhir_gateway"].auth
    base = "http://gateway.test/fhir"
    token = lambda role, scope, **kw: {"Authorization": "Bearer " + auth.issue(  # noqa: E731
        "c", role, scope, base, **kw)["access_token"]}
    body = _parameters(patient())
    assert _match(client, body).status_code == 401
    assert _match(client, body, token("auditor", "system/AuditEvent.rs")).status_code == 403
    confined = _match(client, body, token("front_desk", "patient/Patient.rs", patient="p1"))
    assert confined.status_code == 403 and "patient/" in confined.get_json()["issue"][0]["diagnostics"]
    assert _match(client, body, token("billing", "user/Patient.rs")).status_code == 200
    app.extensions["fhir_gateway"].db.dispose()
