"""The sandbox REST EHR's JSON API through VendorHttpClient: CRUD, search paging, validation,
conflicts, and its own request log."""
from __future__ import annotations

import pytest
import requests

from gateway.transports.http import HttpRefused

pytestmark = pytest.mark.live

PATIENT = {"chart_number": "MRN-1", "first_name": "Ada", "middle_name": "King",
           "last_name": "Lovelace", "date_of_birth": "1815-12-10", "sex": "F",
           "phone_home": "555-0100", "email": "ada@example.org", "address_line1": "1 St James Sq",
           "city": "London", "state": "LN", "zip": "SW1", "marital_status": "married",
           "insurance_company": "Acme Health", "insurance_id": "X123", "group_number": "G9",
           "insurance_relationship": "self", "emergency_contact_name": "William King",
           "emergency_contact_phone": "555-0101", "emergency_contact_relationship": "spouse"}


def _refused(call, *args) -> HttpRefused:
    with pytest.raises(HttpRefused) as caught:
        call(*args)
    return caught.value


def test_patient_create_read_update_delete(vendor):
    created = vendor.post("patients", PATIENT)
    body = created.body
    assert created.status == 201 and body["id"] == "p-000001"
    assert created.location.endswith("/api/v1/patients/p-000001")
    assert {k: body[k] for k in PATIENT} == PATIENT
    assert body["phone_mobile"] is None and body["updated_at"].endswith("+00:00")
    assert vendor.get("patients/p-000001").body == body

    changed = {**body, "last_name": "Byron", "sex": "O"}  # id and updated_at may come back
    updated = vendor.put("patients/p-000001", changed).body
    assert updated["last_name"] == "Byron" and updated["id"] == "p-000001"
    assert vendor.delete("patients/p-000001").status == 204
    assert _refused(vendor.get, "patients/p-000001").status == 404
    assert _refused(vendor.delete, "patients/p-000001").status == 404
    assert vendor.post("patients", PATIENT).body["id"] == "p-000002"  # ids are never reused


def test_search_filters_and_pages(vendor):
    for n in range(5):
        vendor.post("patients", {**PATIENT, "chart_number": f"C{n}",
                                 "first_name": "Ada" if n % 2 == 0 else "Bob"})
    vendor.post("patients", {**PATIENT, "chart_number": "Z", "last_name": "Other"})
    pages, page = [], 1
    while page:
        body = vendor.get("patients", params={"last_name": "lovelace", "per_page": 2, "page": page}).body
        pages.append([p["chart_number"] for p in body["data"]])
        assert body["total"] == 5 and body["per_page"] == 2
        page = body["next_page"]
    assert pages == [["C0", "C1"], ["C2", "C3"], ["C4"]]
    only = vendor.get("patients", params={"first_name": "BOB", "date_of_birth": "1815-12-10"}).body
    assert [p["chart_number"] for p in only["data"]] == ["C1", "C3"] and only["next_page"] is None
    assert vendor.get("patients", params={"chart_number": "Z"}).body["data"][0]["last_name"] == "Other"
    assert vendor.get("patients").body["page"] == 1


@pytest.mark.parametrize("params,code", [({"per_page": 0}, "invalid_parameter"),
                                         ({"per_page": 101}, "invalid_parameter"),
                                         ({"page": "x"}, "invalid_parameter"),
                                         ({"date_of_birth": "10/12/1815"}, "invalid_value"),
                                         ({"colour": "red"}, "unknown_parameter")])
def test_bad_search_parameters_are_400(vendor, params, code):
    error = _refused(lambda: vendor.get("patients", params=params))
    assert (error.status, error.code) == (400, code)


def test_duplicate_chart_number_is_409(vendor):
    vendor.post("patients", PATIENT)
    other = vendor.post("patients", {**PATIENT, "chart_number": "MRN-2"}).body
    assert _refused(vendor.post, "patients", PATIENT).status == 409
    error = _refused(vendor.put, f"patients/{other['id']}", PATIENT)
    assert (error.status, error.code) == (409, "duplicate_chart_number")


@pytest.mark.parametrize("change,status,code", [
    ({"first_name": None}, 422, "missing_field"),
    ({"date_of_birth": ""}, 422, "missing_field"),
    ({"date_of_birth": "1815-13-40"}, 422, "invalid_value"),
    ({"sex": "female"}, 422, "invalid_value"),
    ({"marital_status": "complicated"}, 422, "invalid_value"),
    ({"insurance_relationship": "cousin"}, 422, "invalid_value"),
    ({"zip": 12345}, 422, "invalid_value"),
    ({"shoe_size": "9"}, 400, "unknown_field"),
    ({"id": "p-999999"}, 400, "read_only_field"),
])
def test_invalid_patient_bodies(vendor, change, status, code):
    error = _refused(vendor.post, "patients", {**PATIENT, **change})
    assert (error.status, error.code) == (status, code)


def test_bad_json_body_is_400(rest_ehr, vendor):
    vendor.get("patients")
    token = vendor._session.token["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for body in ("{broken", "[1, 2]"):
        response = requests.post(f"{rest_ehr.api_url}/patients", data=body, headers=headers, timeout=5)
        assert response.status_code == 400 and "error" in response.json()


def test_appointments_crud_and_search(vendor):
    patient = vendor.post("patients", PATIENT).body["id"]
    visit = {"patient_id": patient, "provider": "Dr Who", "location": "Room 1",
             "start_time": "2024-05-01T09:00:00-05:00", "end_time": "2024-05-01T09:30:00-05:00",
             "duration_minutes": 30, "reason": "checkup", "visit_type": "follow-up"}
    created = vendor.post("appointments", visit)
    assert created.status == 201 and created.body["id"] == "a-000001"
    assert created.body["status"] == "booked"  # the default
    vendor.post("appointments", {**visit, "start_time": "2024-05-02T09:00:00-05:00",
                                 "end_time": None, "status": "pending"})
    cancelled = vendor.put("appointments/a-000001", {**visit, "status": "cancelled"}).body
    assert cancelled["status"] == "cancelled"
    by_day = vendor.get("appointments", params={"date": "2024-05-01", "patient_id": patient}).body
    assert [a["id"] for a in by_day["data"]] == ["a-000001"]
    assert vendor.get("appointments", params={"status": "pending"}).body["total"] == 1
    assert vendor.get("appointments/a-000002").body["status"] == "pending"
    assert _refused(vendor.get, "appointments/a-000404").status == 404


@pytest.mark.parametrize("change,status,code", [
    ({"patient_id": "p-404404"}, 422, "unknown_patient"),
    ({"start_time": "2024-05-01T09:00:00"}, 422, "invalid_value"),  # no offset
    ({"start_time": None}, 422, "missing_field"),
    ({"end_time": "2024-05-01T08:00:00-05:00"}, 422, "invalid_value"),
    ({"status": "maybe"}, 422, "invalid_value"),
    ({"duration_minutes": "30"}, 422, "invalid_value"),
    ({"room": "1"}, 400, "unknown_field"),
])
def test_invalid_appointments(vendor, change, status, code):
    patient = vendor.post("patients", PATIENT).body["id"]
    visit = {"patient_id": patient, "start_time": "2024-05-01T09:00:00-05:00", **change}
    error = _refused(vendor.post, "appointments", visit)
    assert (error.status, error.code) == (status, code)


def test_request_log_lists_what_it_received(rest_ehr, vendor):
    vendor.post("patients", PATIENT)
    vendor.get("patients", params={"last_name": "Lovelace"})
    log = requests.get(f"{rest_ehr.url}/_sandbox/requests", timeout=5).json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", "/oauth/token", 200), ("POST", "/api/v1/patients", 201),
        ("GET", "/api/v1/patients", 200)]
    assert log[1]["body"] == PATIENT and log[2]["query"] == {"last_name": "Lovelace"}
    assert log[1]["client_id"] == "sandbox-client"
    records = requests.get(f"{rest_ehr.url}/_sandbox/records", timeout=5).json()
    assert [p["chart_number"] for p in records["patients"]] == ["MRN-1"]


def test_token_endpoint_errors_follow_rfc_6749(rest_ehr):
    url = rest_ehr.token_url
    wrong_grant = requests.post(url, data={"grant_type": "password", "client_id": "sandbox-client",
                                           "client_secret": "sandbox-secret"}, timeout=5)
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"
    both = requests.post(url, data={"grant_type": "client_credentials", "client_id": "x"},
                         auth=("sandbox-client", "sandbox-secret"), timeout=5)
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    nothing = requests.post(url, data={"grant_type": "client_credentials"}, timeout=5)
    assert nothing.status_code == 401 and nothing.json()["error"] == "invalid_client"
    good = requests.post(url, data={"grant_type": "client_credentials"},
                         auth=("sandbox-client", "sandbox-secret"), timeout=5)
    assert good.json()["token_type"] == "Bearer" and good.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("body", [{"mode": "teapot"}, {"mode": "500", "count": -1}, "nope"])
def test_fault_and_config_apis_refuse_bad_bodies(rest_ehr, body):
    assert requests.post(f"{rest_ehr.url}/_sandbox/faults", json=body, timeout=5).status_code == 400
    assert requests.post(f"{rest_ehr.url}/_sandbox/config", json={"rate_limit": 0},
                         timeout=5).status_code == 400


def test_unknown_route_is_a_json_404(rest_ehr):
    response = requests.get(f"{rest_ehr.url}/nowhere", timeout=5)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
