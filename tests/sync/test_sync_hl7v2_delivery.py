"""End to end over real sockets: Patient writes through the gateway reach the sandbox HL7 v2 EHR
as ADT^A04/A08; refusals answer 422 and store nothing; an unreachable EHR leaves the write
stored with a pending outbox row that the worker delivers later (or, with
delivery_when_unavailable = "refuse", a 503 that stores nothing)."""
from __future__ import annotations

import copy
import json
import urllib.request

import pytest

from conformance.sandbox.v2_ehr import V2Ehr
from gateway.app import create_app
from gateway.settings import settings_from_mapping
from outbox_helpers import deliver_outbox, outbox_rows

FHIR_JSON = "application/fhir+json"
PATIENT = {"resourceType": "Patient",
           "identifier": [{"system": "urn:fhir-gateway:mrn", "value": "MRN-5001"}],
           "name": [{"family": "Okafor", "given": ["Chinedu"]}], "gender": "male",
           "birthDate": "1972-11-02", "telecom": [{"system": "phone", "use": "home", "value": "555-0102"}]}


@pytest.fixture
def gateway(ehr, settings_overrides):
    overrides = dict(settings_overrides, backends=[{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.2.0",
        "endpoint": ehr.mllp_url, "resources": ["Patient", "Appointment", "Coverage"],
        "options": {"read_timeout": 1.5, "assigning_authority": "CLINIC"}}])
    app = create_app(settings_from_mapping(overrides))
    yield app.test_client()
    app.extensions["fhir_gateway"].db.dispose()


def _inbox(ehr) -> list[dict]:
    with urllib.request.urlopen(ehr.inbox_url, timeout=5) as response:
        return json.loads(response.read())


def _fault(ehr, **body) -> None:
    request = urllib.request.Request(f"{ehr.http_url}/faults", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).read()


def _count(client) -> int:
    return client.get("/fhir/Patient?_summary=count").get_json()["total"]


def test_create_arrives_as_adt_a04_and_reads_back(gateway, ehr):
    created = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert created.status_code == 201, created.data
    pid = created.get_json()["id"]
    inbox = _inbox(ehr)
    assert len(inbox) == 1
    raw = inbox[0]["raw"]
    segments = {line.split("|")[0]: line.split("|") for line in raw.replace("\n", "\r").split("\r") if line}
    assert segments["MSH"][8] == "ADT^A04^ADT_A01"
    assert segments["PID"][3] == "MRN-5001^^^CLINIC^MR"
    assert segments["PID"][5] == "Okafor^Chinedu"
    assert segments["PID"][7] == "19721102" and segments["PID"][8] == "M"
    read = gateway.get(f"/fhir/Patient/{pid}").get_json()
    assert read["name"] == PATIENT["name"]


def test_update_arrives_as_adt_a08(gateway, ehr):
    pid = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON).get_json()["id"]
    changed = dict(copy.deepcopy(PATIENT), id=pid, birthDate="1972-11-03")
    assert gateway.put(f"/fhir/Patient/{pid}", data=json.dumps(changed), content_type=FHIR_JSON).status_code == 200
    messages = _inbox(ehr)
    assert [m["type"].split("^")[1] for m in messages] == ["A04", "A08"]
    assert "|19721103|" in messages[1]["raw"]


def test_delete_is_not_offered_when_the_ehr_profile_has_no_delete(gateway):
    pid = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON).get_json()["id"]
    assert gateway.delete(f"/fhir/Patient/{pid}").status_code == 405
    cs = gateway.get("/fhir/metadata").get_json()
    patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert "hl7v2-generic@2.5.1-1.2.0" in patient["documentation"]
    assert "delete" not in {i["code"] for i in patient["interaction"]}


def test_permanent_refusal_is_422_with_the_ehr_reason_and_nothing_stored(gateway, ehr):
    _fault(ehr, mode="nak-ar", count=1, text="MRN format rejected")
    response = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert response.status_code == 422
    assert "MRN format rejected" in response.get_json()["issue"][0]["diagnostics"]
    assert _count(gateway) == 0


def _adt_a04s(ehr) -> list[dict]:
    return [m for m in _inbox(ehr) if m["type"].startswith("ADT^A04")]


@pytest.mark.parametrize("mode", ["nak-ae", "drop", "slow"])
def test_transient_failures_are_stored_queued_and_delivered_by_the_worker(gateway, ehr, mode):
    _fault(ehr, mode=mode, count=1, delay=3)
    response = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON,
                            headers={"Prefer": "return=OperationOutcome"})
    assert response.status_code == 201, response.data
    assert response.headers["X-Delivery-Status"].startswith("queued; backend=ehr; outbox=")
    warning = [i for i in response.get_json()["issue"] if i["severity"] == "warning"]
    assert warning and "queued" in warning[0]["diagnostics"]
    assert _count(gateway) == 1  # accepted: the front desk does not key it in again
    [row] = outbox_rows(gateway.application)
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"]
    done = deliver_outbox(gateway.application)
    assert (done.delivered, done.dead) == (1, 0)
    [row] = outbox_rows(gateway.application)
    assert row["status"] == "delivered" and row["attempts"] == 2
    accepted = [m for m in _adt_a04s(ehr) if m["ack_code"] == "AA"]
    assert accepted and "MRN-5001" in accepted[-1]["raw"]
    # a resend carries the first try's MSH-10, so the EHR can tell it is the same change
    assert len({m["control_id"] for m in _adt_a04s(ehr)}) == 1


def test_unreachable_ehr_queues_later_writes_behind_the_first_and_keeps_their_order(gateway, ehr):
    _fault(ehr, mode="drop", count=1)
    first = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    assert first.status_code == 201 and first.headers["X-Delivery-Status"].startswith("queued")
    pid = first.get_json()["id"]
    sent = len(_inbox(ehr))
    changed = dict(copy.deepcopy(PATIENT), id=pid, birthDate="1972-11-03")
    second = gateway.put(f"/fhir/Patient/{pid}", data=json.dumps(changed), content_type=FHIR_JSON)
    assert second.status_code == 200 and second.headers["X-Delivery-Status"].startswith("queued")
    assert len(_inbox(ehr)) == sent  # queued behind the first: not tried, so not overtaking it
    assert deliver_outbox(gateway.application).delivered == 2
    delivered = [m for m in _inbox(ehr) if m["ack_code"] == "AA"]
    assert [m["type"].split("^")[1] for m in delivered] == ["A04", "A08"]
    assert "|19721103|" in delivered[1]["raw"]
    third = gateway.put(f"/fhir/Patient/{pid}", data=json.dumps(dict(changed, gender="female")),
                        content_type=FHIR_JSON)
    assert third.headers["X-Delivery-Status"].startswith("delivered")  # drained: sent at once


def test_refuse_mode_answers_503_and_stores_nothing(ehr, settings_overrides):
    overrides = dict(settings_overrides, delivery_when_unavailable="refuse", backends=[{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.2.0",
        "endpoint": ehr.mllp_url, "resources": ["Patient"], "options": {"read_timeout": 1.5}}])
    app = create_app(settings_from_mapping(overrides))
    try:
        client = app.test_client()
        ehr.stop()
        response = client.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
        assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
        assert _count(client) == 0 and outbox_rows(app) == []
    finally:
        app.extensions["fhir_gateway"].db.dispose()


def _appointments(ehr) -> list[dict]:
    with urllib.request.urlopen(f"{ehr.http_url}/appointments", timeout=5) as response:
        return json.loads(response.read())


def test_appointment_book_and_cancel_arrive_as_siu(gateway, ehr):
    pid = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON).get_json()["id"]
    appointment = {"resourceType": "Appointment", "status": "booked", "description": "Flu shot",
                   "start": "2026-12-01T09:00:00-06:00", "end": "2026-12-01T09:20:00-06:00",
                   "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}]}
    created = gateway.post("/fhir/Appointment", data=json.dumps(appointment), content_type=FHIR_JSON)
    assert created.status_code == 201, created.data
    aid = created.get_json()["id"]
    s12 = _inbox(ehr)[-1]
    assert s12["type"].startswith("SIU^S12") and "PID|1||MRN-5001^^^CLINIC^MR||Okafor^Chinedu" in s12["raw"]
    cancelled = dict(appointment, id=aid, status="cancelled")
    assert gateway.put(f"/fhir/Appointment/{aid}", data=json.dumps(cancelled),
                       content_type=FHIR_JSON).status_code == 200
    assert _inbox(ehr)[-1]["type"].startswith("SIU^S15")
    [stored] = _appointments(ehr)
    assert stored["status"] == "Cancelled" and stored["patient_mrn"] == "MRN-5001"


def test_coverage_arrives_as_adt_a08_with_in1(gateway, ehr):
    pid = gateway.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON).get_json()["id"]
    coverage = {"resourceType": "Coverage", "status": "active",
                "identifier": [{"system": "urn:example:policy", "value": "POL-1"}],
                "beneficiary": {"reference": f"Patient/{pid}"},
                "payor": [{"identifier": {"value": "ACME"}, "display": "Acme Health"}],
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EHCPOL"}]}}
    response = gateway.post("/fhir/Coverage", data=json.dumps(coverage), content_type=FHIR_JSON)
    assert response.status_code == 201, response.data
    last = _inbox(ehr)[-1]
    assert last["type"].startswith("ADT^A08") and last["ack_code"] == "AA"
    assert "\rIN1|1|EHCPOL|ACME|Acme Health|" in last["raw"] and "|POL-1" in last["raw"]


# --- hl7v2-generic@2.5.1-1.3.0: the EHR answers Patient searches (IHE PDQ), S13, MDM^T02 ------

@pytest.fixture
def gateway13(ehr, settings_overrides):
    overrides = dict(settings_overrides, backends=[{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.3.0",
        "endpoint": ehr.mllp_url, "resources": ["Patient", "Appointment", "DocumentReference"],
        "options": {"read_timeout": 1.5, "assigning_authority": "CLINIC"}}])
    app = create_app(settings_from_mapping(overrides))
    yield app.test_client()
    app.extensions["fhir_gateway"].db.dispose()


def _register_at_ehr(ehr, mrn: str, name: str) -> None:
    from gateway.transports.mllp import MllpClient
    message = (f"MSH|^~\\&|REG|CLINIC|EHR|CLINIC|20261124080000||ADT^A04^ADT_A01|R-{mrn}|P|2.5.1\r"
               f"EVN|A04|20261124080000\rPID|1||{mrn}^^^CLINIC^MR||{name}||19880412|F\rPV1|1|N\r")
    with MllpClient("127.0.0.1", ehr.mllp_port) as client:
        assert "|AA|" in client.send(message)


def test_patient_search_is_answered_by_the_ehr_and_mirrored(gateway13, ehr):
    _register_at_ehr(ehr, "MRN-7001", "Adeyemi^Tola")  # known to the EHR only
    _register_at_ehr(ehr, "MRN-7002", "Adeyemi^Kunle")
    found = gateway13.get("/fhir/Patient?family=Adey&given=Tol").get_json()
    assert found["total"] == 1, found
    patient = found["entry"][0]["resource"]
    assert patient["name"][0] == {"family": "Adeyemi", "given": ["Tola"]}
    assert patient["identifier"][0]["value"] == "MRN-7001" and patient["birthDate"] == "1988-04-12"
    inbox = _inbox(ehr)
    assert inbox[-1]["type"].startswith("QBP^Q22") and "@PID.5.1^Adey*" in inbox[-1]["raw"]
    both = gateway13.get("/fhir/Patient?family=Adeyemi&_count=1").get_json()
    assert both["total"] == 2 and len(both["entry"]) == 1
    again = gateway13.get("/fhir/Patient?identifier=MRN-7001").get_json()
    assert again["entry"][0]["resource"]["id"] == patient["id"]  # mirrored once, by MRN
    assert again["entry"][0]["resource"]["meta"]["versionId"] == "1"  # unchanged: no new version
    assert gateway13.get("/fhir/Patient?family=Nobody").get_json()["total"] == 0
    asked = len(_inbox(ehr))
    local = gateway13.get("/fhir/Patient?name=Adeyemi").get_json()  # `name` is not sent as a query
    assert local["total"] == 2 and len(_inbox(ehr)) == asked


def test_patient_search_while_the_ehr_is_down_is_503_not_a_stale_answer(gateway13, ehr):
    ehr.stop()
    response = gateway13.get("/fhir/Patient?family=Adeyemi")
    assert response.status_code == 503 and response.headers.get("Retry-After")
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_reschedule_arrives_as_s13_and_other_changes_as_s14(gateway13, ehr):
    pid = gateway13.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON).get_json()["id"]
    appointment = {"resourceType": "Appointment", "status": "booked", "description": "Checkup",
                   "start": "2026-12-01T09:00:00-06:00", "end": "2026-12-01T09:20:00-06:00",
                   "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}]}
    created = gateway13.post("/fhir/Appointment", data=json.dumps(appointment), content_type=FHIR_JSON)
    assert created.status_code == 201, created.data
    aid = created.get_json()["id"]
    moved = dict(appointment, id=aid, start="2026-12-02T10:00:00-06:00", end="2026-12-02T10:20:00-06:00")
    assert gateway13.put(f"/fhir/Appointment/{aid}", data=json.dumps(moved), content_type=FHIR_JSON).status_code == 200
    noted = dict(moved, description="Checkup and flu shot")
    assert gateway13.put(f"/fhir/Appointment/{aid}", data=json.dumps(noted), content_type=FHIR_JSON).status_code == 200
    assert [m["type"].split("^")[1] for m in _inbox(ehr)] == ["A04", "S12", "S13", "S14"]
    assert "|20261202100000-0600|" in _inbox(ehr)[2]["raw"]


def test_document_with_its_binary_arrives_as_mdm_t02(gateway13, ehr):
    import base64
    pid = gateway13.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON).get_json()["id"]
    pdf = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
    binary = gateway13.post("/fhir/Binary", data=json.dumps(
        {"resourceType": "Binary", "contentType": "application/pdf", "data": pdf}), content_type=FHIR_JSON)
    assert binary.status_code == 201, binary.data
    document = {"resourceType": "DocumentReference", "status": "current", "docStatus": "final",
                "masterIdentifier": {"value": "DOC-1"}, "type": {"coding": [{"code": "CN"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "content": [{"attachment": {"contentType": "application/pdf",
                                            "url": f"Binary/{binary.get_json()['id']}"}}]}
    created = gateway13.post("/fhir/DocumentReference", data=json.dumps(document), content_type=FHIR_JSON)
    assert created.status_code == 201, created.data
    last = _inbox(ehr)[-1]
    assert last["type"].startswith("MDM^T02") and last["ack_code"] == "AA", last
    assert f"|^application^pdf^Base64^{pdf}|" in last["raw"] and "|DOC-1|" in last["raw"]


def test_mllp_over_tls_with_a_client_certificate(settings_overrides, tmp_path):
    """mllps:// endpoint: TLS 1.2+ with the EHR's CA, and the client certificate the EHR asks
    for; without it the EHR refuses the handshake and the write stays queued, never delivered."""
    from gateway.devcert import write_dev_cert
    from gateway.transports.tls import server_context
    ehr_cert, ehr_key = write_dev_cert(tmp_path / "ehr")
    gw_cert, gw_key = write_dev_cert(tmp_path / "gw", hostname="gateway")
    sandbox = V2Ehr("127.0.0.1", ssl_context=server_context(
        str(ehr_cert), str(ehr_key), client_cafile=str(gw_cert), require_client_cert=True)).start()
    endpoint = sandbox.mllp_url.replace("mllp://", "mllps://")
    try:
        def client(options):
            overrides = dict(settings_overrides, backends=[{
                "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.2.0", "endpoint": endpoint,
                "resources": ["Patient"], "options": {"read_timeout": 3, "assigning_authority": "CLINIC",
                                                      "tls_ca": str(ehr_cert), "tls_server_name": "localhost",
                                                      **options}}])
            return create_app(settings_from_mapping(overrides))
        with_cert = client({"tls_cert": str(gw_cert), "tls_key": str(gw_key)})
        response = with_cert.test_client().post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
        assert response.status_code == 201, response.get_data(as_text=True)
        assert [m["type"] for m in _inbox(sandbox)] == ["ADT^A04"]
        without = client({})
        queued = without.test_client().post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
        assert queued.status_code == 201 and queued.headers["X-Delivery-Status"].startswith("queued")
        assert deliver_outbox(without).delivered == 0  # the handshake still fails: kept, not lost
        [row] = outbox_rows(without, status="pending")  # (both apps share one database)
        assert row["status"] == "pending" and row["attempts"] == 2
        assert [m["type"] for m in _inbox(sandbox)] == ["ADT^A04"]
        for app in (with_cert, without):
            app.extensions["fhir_gateway"].db.dispose()
    finally:
        sandbox.stop()
