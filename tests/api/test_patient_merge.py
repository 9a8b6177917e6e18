"""Patient $merge: the survivor links `replaces`, the duplicate is retired with `replaced-by`,
all in one audited transaction; never a guess (unknown, same, already merged: refused with
nothing changed); integration_admin only; and when the HL7 v2 EHR owns Patient it receives
ADT^A40 (MRG-1 = the duplicate's MRN), a refusal rolling the local merge back."""
from __future__ import annotations

import json
import urllib.request

import pytest

from conformance.sandbox.v2_ehr import V2Ehr
from fhir_data import FHIR_JSON, patient
from gateway.app import create_app
from gateway.settings import settings_from_mapping

MRN = "urn:oid:2.16.840.1.113883.3.72.5.9.1"


def _merge(client, source: str, target: str, headers=None, preview: bool | None = None):
    parameters = [{"name": "source-patient", "valueReference": {"reference": f"Patient/{source}"}},
                  {"name": "target-patient", "valueReference": {"reference": f"Patient/{target}"}}]
    if preview is not None:
        parameters.append({"name": "preview", "valueBoolean": preview})
    return client.post("/fhir/Patient/$merge", data=json.dumps({"resourceType": "Parameters", "parameter": parameters}),
                       content_type=FHIR_JSON, headers=headers or {})


def _two(client) -> tuple[str, str]:
    ids = []
    for value, family in (("MRN-1", "Duplicate"), ("MRN-2", "Survivor")):
        body = patient(identifier=[{"system": MRN, "value": value}], name=[{"family": family}])
        ids.append(client.post("/fhir/Patient", data=json.dumps(body), content_type=FHIR_JSON).get_json()["id"])
    return ids[0], ids[1]


def test_merge_links_both_patients_and_is_audited(client):
    source, target = _two(client)
    response = _merge(client, source, target)
    assert response.status_code == 200, response.get_json()
    result = next(p["resource"] for p in response.get_json()["parameter"] if p["name"] == "result")
    assert result["id"] == target and result["link"] == [
        {"other": {"reference": f"Patient/{source}"}, "type": "replaces"}]
    retired = client.get(f"/fhir/Patient/{source}").get_json()
    assert retired["active"] is False
    assert retired["link"] == [{"other": {"reference": f"Patient/{target}"}, "type": "replaced-by"}]
    events = client.get(f"/fhir/AuditEvent?entity=Patient/{source}&action=E").get_json()
    assert any(e["resource"]["subtype"][0]["code"] == "operation" for e in events.get("entry", []))
    again = _merge(client, source, target)
    assert again.status_code == 422 and "already merged" in again.get_json()["issue"][0]["diagnostics"]


def test_preview_writes_nothing(client):
    source, target = _two(client)
    response = _merge(client, source, target, preview=True)
    assert response.status_code == 200
    assert "link" not in client.get(f"/fhir/Patient/{target}").get_json()
    assert client.get(f"/fhir/Patient/{source}").get_json()["meta"]["versionId"] == "1"


@pytest.mark.parametrize("body, status", [
    ({"resourceType": "Patient"}, 400),
    ({"resourceType": "Parameters", "parameter": []}, 400),
    ({"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": "Coverage/1"}},
        {"name": "target-patient", "valueReference": {"reference": "Patient/2"}}]}, 400),
])
def test_bad_parameters_are_400(client, body, status):
    response = client.post("/fhir/Patient/$merge", data=json.dumps(body), content_type=FHIR_JSON)
    assert response.status_code == status and response.get_json()["resourceType"] == "OperationOutcome"


def test_same_or_unknown_patients_change_nothing(client):
    source, target = _two(client)
    assert _merge(client, source, source).status_code == 422
    assert _merge(client, source, "no-such-patient").status_code == 404
    assert client.get(f"/fhir/Patient/{source}").get_json()["meta"]["versionId"] == "1"


def test_only_integration_admin_may_merge(live_gateway):
    import requests
    base, app = live_gateway
    auth = app.extensions["fhir_gateway"].auth
    admin = auth.issue("a", "integration_admin", "system/*.cruds", base)["access_token"]
    desk = auth.issue("d", "front_desk", "user/Patient.cruds", base)["access_token"]
    headers = lambda token: {"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON}
    ids = [requests.post(f"{base}/Patient", headers=headers(admin), timeout=10,
                         data=json.dumps(patient(identifier=[{"system": MRN, "value": f"M-{i}"}]))).json()["id"]
           for i in range(2)]
    body = json.dumps({"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": f"Patient/{ids[0]}"}},
        {"name": "target-patient", "valueReference": {"reference": f"Patient/{ids[1]}"}}]})
    refused = requests.post(f"{base}/Patient/$merge", data=body, headers=headers(desk), timeout=10)
    assert refused.status_code == 403 and "integration_admin" in refused.json()["issue"][0]["diagnostics"]
    done = requests.post(f"{base}/Patient/$merge", data=body, headers=headers(admin), timeout=10)
    assert done.status_code == 200


def test_capability_offers_merge_only_where_the_owner_carries_it(settings_overrides):
    def operations(profile):
        backends = [] if profile is None else [{
            "name": "ehr", "dialect": "hl7v2", "profile": profile, "endpoint": "mllp://127.0.0.1:9",
            "resources": ["Patient"]}]
        app = create_app(settings_from_mapping(dict(settings_overrides, backends=backends)))
        cs = app.test_client().get("/fhir/metadata").get_json()
        app.extensions["fhir_gateway"].db.dispose()
        entry = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
        return [o["name"] for o in entry.get("operation", [])]
    # $match reads the mirror only, so it is offered whoever owns Patient
    assert operations(None) == ["merge", "match"]
    assert operations("hl7v2-generic@2.5.1-1.3.0") == ["merge", "match"]
    assert operations("hl7v2-generic@2.5.1-1.2.0") == ["match"]  # no A40 in that profile


@pytest.fixture
def v2_world(settings_overrides):
    ehr = V2Ehr("127.0.0.1").start()
    overrides = dict(settings_overrides, backends=[{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.3.0", "endpoint": ehr.mllp_url,
        "resources": ["Patient"], "options": {"read_timeout": 2, "assigning_authority": "CLINIC",
                                             "mrn_system": MRN}}])
    app = create_app(settings_from_mapping(overrides))
    yield ehr, app.test_client()
    app.extensions["fhir_gateway"].db.dispose()
    ehr.stop()


def _inbox(ehr) -> list[dict]:
    with urllib.request.urlopen(ehr.inbox_url, timeout=5) as response:
        return json.loads(response.read())


def test_merge_reaches_the_v2_ehr_as_adt_a40(v2_world):
    ehr, client = v2_world
    source, target = _two(client)
    response = _merge(client, source, target)
    assert response.status_code == 200, response.get_json()
    last = _inbox(ehr)[-1]
    assert last["type"] == "ADT^A40"
    segments = {line.split("|")[0]: line.split("|") for line in last["raw"].split("\r") if line}
    assert segments["PID"][3].split("^")[0] == "MRN-2" and segments["MRG"][1].split("^")[0] == "MRN-1"


def test_a_merge_the_ehr_cannot_take_changes_nothing(v2_world):
    ehr, client = v2_world
    source, target = _two(client)
    ehr.stop()  # the EHR is down: 503, and the local merge is rolled back
    response = _merge(client, source, target)
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert "link" not in client.get(f"/fhir/Patient/{target}").get_json()
    assert client.get(f"/fhir/Patient/{source}").get_json().get("active") is True
