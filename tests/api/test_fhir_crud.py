"""CRUD, versioning and headers of the FHIR REST API (R4 http.html), on SQLite and PostgreSQL."""
from __future__ import annotations

import json

from fhir_data import FHIR_JSON, appointment, patient


def post(client, path, body, **headers):
    return client.post(path, data=json.dumps(body), content_type=FHIR_JSON, headers=headers)


def put(client, path, body, **headers):
    return client.put(path, data=json.dumps(body), content_type=FHIR_JSON, headers=headers)


def test_create_then_read_returns_stored_resource_with_headers(client):
    created = post(client, "/fhir/Patient", patient())
    assert created.status_code == 201
    body = created.get_json()
    pid = body["id"]
    assert body["meta"]["versionId"] == "1"
    assert created.headers["ETag"] == 'W/"1"'
    assert created.headers["Location"] == f"http://gateway.test/fhir/Patient/{pid}/_history/1"
    assert created.headers["Content-Type"].startswith(FHIR_JSON)
    assert "Last-Modified" in created.headers

    read = client.get(f"/fhir/Patient/{pid}")
    assert read.status_code == 200
    assert read.get_json() == body
    assert read.headers["ETag"] == 'W/"1"'


def test_client_meta_version_is_replaced_but_tags_kept(client):
    sent = patient(meta={"versionId": "99", "tag": [{"system": "urn:t", "code": "vip"}]})
    body = post(client, "/fhir/Patient", sent).get_json()
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["tag"] == [{"system": "urn:t", "code": "vip"}]


def test_update_bumps_version_and_vread_returns_each_version(client):
    pid = post(client, "/fhir/Patient", patient()).get_json()["id"]
    changed = patient(id=pid, birthDate="1974-12-26")
    updated = put(client, f"/fhir/Patient/{pid}", changed)
    assert updated.status_code == 200
    assert updated.get_json()["meta"]["versionId"] == "2"
    v1 = client.get(f"/fhir/Patient/{pid}/_history/1").get_json()
    v2 = client.get(f"/fhir/Patient/{pid}/_history/2").get_json()
    assert v1["birthDate"] == "1974-12-25" and v2["birthDate"] == "1974-12-26"
    assert client.get(f"/fhir/Patient/{pid}/_history/3").status_code == 404


def test_update_as_create_with_client_id(client):
    response = put(client, "/fhir/Patient/chosen-id-1", patient(id="chosen-id-1"))
    assert response.status_code == 201
    assert client.get("/fhir/Patient/chosen-id-1").status_code == 200


def test_if_match_optimistic_locking(client):
    pid = post(client, "/fhir/Patient", patient()).get_json()["id"]
    ok = put(client, f"/fhir/Patient/{pid}", patient(id=pid, active=False), **{"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = put(client, f"/fhir/Patient/{pid}", patient(id=pid), **{"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.get_json()["resourceType"] == "OperationOutcome"
    assert client.get(f"/fhir/Patient/{pid}").get_json()["active"] is False


def test_update_with_mismatched_id_is_400(client):
    pid = post(client, "/fhir/Patient", patient()).get_json()["id"]
    response = put(client, f"/fhir/Patient/{pid}", patient(id="other"))
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["Patient.id"]


def test_delete_then_read_is_410_and_history_keeps_versions(client):
    pid = post(client, "/fhir/Patient", patient()).get_json()["id"]
    assert client.delete(f"/fhir/Patient/{pid}").status_code == 200
    assert client.get(f"/fhir/Patient/{pid}").status_code == 410
    assert client.delete(f"/fhir/Patient/{pid}").status_code == 200  # idempotent
    history = client.get(f"/fhir/Patient/{pid}/_history").get_json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert history["total"] == 2


def test_delete_of_referenced_patient_is_409(client):
    pid = post(client, "/fhir/Patient", patient()).get_json()["id"]
    assert post(client, "/fhir/Appointment", appointment(pid)).status_code == 201
    response = client.delete(f"/fhir/Patient/{pid}")
    assert response.status_code == 409
    assert client.get(f"/fhir/Patient/{pid}").status_code == 200


def test_conditional_create_if_none_exist(client):
    first = post(client, "/fhir/Patient", patient(),
                 **{"If-None-Exist": "identifier=urn:oid:2.16.840.1.113883.3.72.5.9.1|MRN-1001"})
    assert first.status_code == 201
    again = post(client, "/fhir/Patient", patient(),
                 **{"If-None-Exist": "identifier=urn:oid:2.16.840.1.113883.3.72.5.9.1|MRN-1001"})
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    bundle = client.get("/fhir/Patient?identifier=MRN-1001").get_json()
    assert bundle["total"] == 1


def test_conditional_create_with_several_matches_is_412(client):
    post(client, "/fhir/Patient", patient())
    post(client, "/fhir/Patient", patient())
    response = post(client, "/fhir/Patient", patient(), **{"If-None-Exist": "family=Chalmers"})
    assert response.status_code == 412


def test_prefer_return_minimal_and_operation_outcome(client):
    minimal = post(client, "/fhir/Patient", patient(), Prefer="return=minimal")
    assert minimal.status_code == 201 and minimal.data == b""
    assert minimal.headers["Location"]
    outcome = post(client, "/fhir/Patient", patient(), Prefer="return=OperationOutcome")
    assert outcome.get_json()["resourceType"] == "OperationOutcome"


def test_type_history_lists_versions_newest_first_and_pages(client):
    ids = [post(client, "/fhir/Patient", patient()).get_json()["id"] for _ in range(3)]
    page1 = client.get("/fhir/Patient/_history?_count=2").get_json()
    assert page1["type"] == "history" and page1["total"] == 3
    assert [e["resource"]["id"] for e in page1["entry"]] == ids[::-1][:2]
    nxt = next(link["url"] for link in page1["link"] if link["relation"] == "next")
    page2 = client.get(nxt.replace("http://gateway.test", "")).get_json()
    assert [e["resource"]["id"] for e in page2["entry"]] == [ids[0]]


def test_binary_raw_upload_and_raw_read(client):
    pdf = b"%PDF-1.4\n%\xc3\xa4\n"
    created = client.post("/fhir/Binary", data=pdf, content_type="application/pdf")
    assert created.status_code == 201
    bid = created.get_json()["id"]
    raw = client.get(f"/fhir/Binary/{bid}", headers={"Accept": "application/pdf"})
    assert raw.data == pdf and raw.mimetype == "application/pdf"
    as_fhir = client.get(f"/fhir/Binary/{bid}", headers={"Accept": FHIR_JSON}).get_json()
    assert as_fhir["resourceType"] == "Binary" and as_fhir["contentType"] == "application/pdf"


def test_format_parameter_and_pretty(client):
    pid = post(client, "/fhir/Patient", patient()).get_json()["id"]
    response = client.get(f"/fhir/Patient/{pid}?_format=json&_pretty=true")
    assert response.status_code == 200 and b"\n  " in response.data
    assert client.get(f"/fhir/Patient/{pid}?_format=xml").status_code == 406


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json()["database"] is True
