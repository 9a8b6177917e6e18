"""batch and transaction Bundles POSTed to the base (R4 http.html#transaction)."""
from __future__ import annotations

import json

from fhir_data import FHIR_JSON, appointment, coverage, patient


def post_bundle(client, bundle):
    return client.post("/fhir", data=json.dumps(bundle), content_type=FHIR_JSON)


def txn(*entries, kind="transaction"):
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def test_transaction_rewrites_urn_uuid_references(client):
    urn = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"
    bundle = txn(
        {"fullUrl": "urn:uuid:aaaaaaaa-bfdc-4613-8bf2-c5e300945f0a", "resource": appointment("x") | {
            "participant": [{"actor": {"reference": urn}, "status": "accepted"}]},
         "request": {"method": "POST", "url": "Appointment"}},
        {"fullUrl": urn, "resource": patient(), "request": {"method": "POST", "url": "Patient"}},
    )
    response = post_bundle(client, bundle)
    assert response.status_code == 200, response.data
    result = response.get_json()
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created", "201 Created"]
    pid = result["entry"][1]["resource"]["id"]
    actor = result["entry"][0]["resource"]["participant"][0]["actor"]["reference"]
    assert actor == f"Patient/{pid}"
    found = client.get(f"/fhir/Appointment?patient=Patient/{pid}").get_json()
    assert found["total"] == 1


def test_transaction_is_all_or_nothing(client):
    bundle = txn(
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": patient(gender="M"), "request": {"method": "POST", "url": "Patient"}},
    )
    response = post_bundle(client, bundle)
    assert response.status_code == 400
    assert client.get("/fhir/Patient?_summary=count").get_json()["total"] == 0


def test_transaction_failing_late_rolls_back_earlier_writes(client):
    bundle = txn(
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": coverage("missing"), "request": {"method": "POST", "url": "Coverage"}},
    )
    response = post_bundle(client, bundle)
    assert response.status_code == 422
    assert client.get("/fhir/Patient?_summary=count").get_json()["total"] == 0


def test_transaction_conditional_create_reuses_existing(client):
    first = client.post("/fhir/Patient", data=json.dumps(patient()), content_type=FHIR_JSON).get_json()
    urn = "urn:uuid:0b0c0d0e-0000-4000-8000-000000000001"
    bundle = txn(
        {"fullUrl": urn, "resource": patient(),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=MRN-1001"}},
        {"resource": coverage("x") | {"beneficiary": {"reference": urn}, "subscriber": {"reference": urn}},
         "request": {"method": "POST", "url": "Coverage"}},
    )
    result = post_bundle(client, bundle).get_json()
    assert result["entry"][0]["response"]["status"] == "200 OK"
    assert result["entry"][1]["resource"]["beneficiary"]["reference"] == f"Patient/{first['id']}"


def test_batch_reports_each_entry_independently(client):
    bundle = txn(
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": patient(gender="M"), "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/nope"}},
        kind="batch",
    )
    result = post_bundle(client, bundle).get_json()
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses[0] == "201 Created"
    assert statuses[1].startswith("400")
    assert statuses[2].startswith("404")
    assert result["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Patient?_summary=count").get_json()["total"] == 1


def test_bundle_envelope_errors(client):
    assert post_bundle(client, {"resourceType": "Bundle", "type": "collection"}).status_code == 400
    assert post_bundle(client, txn({"resource": patient()})).status_code == 400
    bad_url = txn({"resource": patient(), "request": {"method": "POST", "url": "http://x/Patient"}})
    assert post_bundle(client, bad_url).status_code == 400


def test_transaction_conditional_create_without_match_keeps_urn_mapping(client):
    urn = "urn:uuid:0b0c0d0e-0000-4000-8000-000000000002"
    bundle = txn(
        {"fullUrl": urn, "resource": patient(),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=MRN-1001"}},
        {"resource": coverage("x") | {"beneficiary": {"reference": urn}, "subscriber": {"reference": urn}},
         "request": {"method": "POST", "url": "Coverage"}},
    )
    first = post_bundle(client, bundle)
    assert first.status_code == 200, first.data
    result = first.get_json()
    pid = result["entry"][0]["resource"]["id"]
    assert result["entry"][1]["resource"]["beneficiary"]["reference"] == f"Patient/{pid}"
    again = post_bundle(client, bundle).get_json()  # the seed-twice case: no second Patient
    assert again["entry"][0]["response"]["status"] == "200 OK"
    assert client.get("/fhir/Patient?_summary=count").get_json()["total"] == 1
