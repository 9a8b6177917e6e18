"""Real FHIR clients against a gateway on a real socket: fhirpy (CRUD + search) and fhirclient
(read + search through its models), with a system token as a deployment would use them."""
from __future__ import annotations

import pytest


@pytest.fixture
def live(live_gateway):
    base, app = live_gateway
    token = app.extensions["fhir_gateway"].auth.issue("tests", "integration_admin", "system/*.cruds",
                                                       base)["access_token"]
    return base, token


def test_fhirpy_crud_and_search(live):
    from fhirpy import SyncFHIRClient
    base, token = live
    client = SyncFHIRClient(base, authorization=f"Bearer {token}")
    patient = client.resource("Patient", name=[{"family": "Nguyen", "given": ["Linh"]}],
                              gender="female", birthDate="1999-07-21")
    patient.save()
    assert patient.id and patient["meta"]["versionId"] == "1"
    patient["birthDate"] = "1999-07-22"
    patient.save()
    fetched = client.reference("Patient", patient.id).to_resource()
    assert fetched["birthDate"] == "1999-07-22" and fetched["meta"]["versionId"] == "2"
    found = client.resources("Patient").search(family="nguy", birthdate__ge="1999-01-01").fetch_all()
    assert [p.id for p in found] == [patient.id]
    appointment = client.resource("Appointment", status="booked", start="2026-12-01T09:00:00Z",
                                  end="2026-12-01T09:20:00Z",
                                  participant=[{"actor": patient.to_reference(), "status": "accepted"}])
    appointment.save()
    mine = client.resources("Appointment").search(patient=f"Patient/{patient.id}").fetch()
    assert [a.id for a in mine] == [appointment.id]
    appointment.delete()
    assert client.resources("Appointment").search(patient=f"Patient/{patient.id}").count() == 0


def test_fhirclient_models_read_and_search(live):
    from fhirclient import client as smart_client
    from fhirclient.models.patient import Patient
    base, token = live
    smart = smart_client.FHIRClient(settings={"app_id": "tests", "api_base": base})
    smart.server.auth = None
    smart.server.session.headers["Authorization"] = f"Bearer {token}"
    created = Patient({"name": [{"family": "Okafor", "given": ["Chinedu"]}], "gender": "male"})
    result = created.create(smart.server)
    assert result["resourceType"] == "Patient"
    pid = result["id"]
    read = Patient.read(pid, smart.server)
    assert read.name[0].family == "Okafor"
    found = list(Patient.where(struct={"family": "Okafor"}).perform_resources_iter(smart.server))
    assert [p.id for p in found] == [pid]
