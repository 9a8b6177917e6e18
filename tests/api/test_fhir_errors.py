"""Every error leaves as an OperationOutcome with the right status; nothing is half-written."""
from __future__ import annotations

import json

import pytest

from fhir_data import FHIR_JSON, appointment, patient


def outcome(response, status):
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] and body["issue"][0]["severity"] in ("error", "fatal", "warning")
    assert b"Traceback" not in response.data
    return body


def count_patients(client) -> int:
    return client.get("/fhir/Patient?_summary=count").get_json()["total"]


def test_malformed_json_is_400_and_nothing_stored(client):
    outcome(client.post("/fhir/Patient", data=b'{"resourceType": "Patient",', content_type=FHIR_JSON), 400)
    outcome(client.post("/fhir/Patient", data=b'{"resourceType":"Patient","x":NaN}', content_type=FHIR_JSON), 400)
    outcome(client.post("/fhir/Patient", data=b"\xff\xfe", content_type=FHIR_JSON), 400)
    outcome(client.post("/fhir/Patient", data=b"", content_type=FHIR_JSON), 400)
    assert count_patients(client) == 0


@pytest.mark.parametrize("change, path", [
    ({"gender": "M"}, "Patient.gender"),
    ({"active": "yes"}, "Patient.active"),
    ({"birthDate": 19800203}, "Patient.birthDate"),
    ({"unknownElement": 1}, "Patient.unknownElement"),
])
def test_invalid_resource_is_400_with_expression(client, change, path):
    body = outcome(client.post("/fhir/Patient", data=json.dumps(patient(**change)),
                               content_type=FHIR_JSON), 400)
    expressions = [e for issue in body["issue"] for e in issue.get("expression", [])]
    assert path in expressions
    assert count_patients(client) == 0


def test_wrong_resource_type_for_endpoint_is_400(client):
    outcome(client.post("/fhir/Patient", data=json.dumps(appointment("x")), content_type=FHIR_JSON), 400)


def test_unknown_type_and_id_are_404(client):
    outcome(client.get("/fhir/Spaceship/1"), 404)
    outcome(client.get("/fhir/Patient/does-not-exist"), 404)
    outcome(client.get("/fhir/not/a/route/at/all/really"), 404)


def test_method_not_allowed_is_405(client):
    outcome(client.patch("/fhir/Patient/1", data="{}", content_type=FHIR_JSON), 405)
    outcome(client.get("/fhir/Binary?_id=1"), 405)


def test_xml_only_accept_is_406(client):
    outcome(client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"}), 406)


def test_duplicate_id_create_in_transaction_is_409_or_conflict(client):
    client.put("/fhir/Patient/p1", data=json.dumps(patient(id="p1")), content_type=FHIR_JSON)
    pid = client.post("/fhir/Patient", data=json.dumps(patient()), content_type=FHIR_JSON).get_json()["id"]
    client.post("/fhir/Appointment", data=json.dumps(appointment(pid)), content_type=FHIR_JSON)
    outcome(client.delete(f"/fhir/Patient/{pid}"), 409)


def test_deleted_is_410(client):
    client.put("/fhir/Patient/p2", data=json.dumps(patient(id="p2")), content_type=FHIR_JSON)
    client.delete("/fhir/Patient/p2")
    outcome(client.get("/fhir/Patient/p2"), 410)


def test_stale_if_match_is_412_and_bad_etag_is_400(client):
    client.put("/fhir/Patient/p3", data=json.dumps(patient(id="p3")), content_type=FHIR_JSON)
    outcome(client.put("/fhir/Patient/p3", data=json.dumps(patient(id="p3")), content_type=FHIR_JSON,
                       headers={"If-Match": 'W/"7"'}), 412)
    outcome(client.put("/fhir/Patient/p3", data=json.dumps(patient(id="p3")), content_type=FHIR_JSON,
                       headers={"If-Match": "garbage"}), 400)


def test_oversize_body_is_413(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    big = patient(name=[{"family": "x" * (limit + 10)}])
    outcome(client.post("/fhir/Patient", data=json.dumps(big), content_type=FHIR_JSON), 413)
    assert count_patients(client) == 0


def test_wrong_content_type_is_415(client):
    outcome(client.post("/fhir/Patient", data=json.dumps(patient()), content_type="text/plain"), 415)
    outcome(client.post("/fhir/Patient", data="<Patient/>", content_type="application/fhir+xml"), 415)


def test_dangling_reference_is_422(client):
    body = outcome(client.post("/fhir/Appointment", data=json.dumps(appointment("nobody")),
                               content_type=FHIR_JSON), 422)
    assert body["issue"][0]["expression"] == ["Appointment.participant[0].actor"]


def test_unexpected_error_is_500_with_correlation_id_and_no_phi_in_log(app, client, caplog, monkeypatch):
    service = app.extensions["fhir_gateway"].fhir

    def explode(*_args, **_kwargs):
        raise RuntimeError("Chalmers 1974-12-25 secret")
    monkeypatch.setattr(service, "read", explode)
    response = client.get("/fhir/Patient/whatever")
    body = outcome(response, 500)
    correlation = response.headers["X-Correlation-Id"]
    assert correlation in body["issue"][0]["diagnostics"]
    assert "Chalmers" not in response.get_data(as_text=True)
    assert "Chalmers" not in caplog.text and correlation in caplog.text
