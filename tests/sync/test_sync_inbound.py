"""Inbound feed over real sockets: the sandbox v2 EHR sends ADT/SIU to the gateway's MLLP
listener; each message is recorded raw, applied to the mirror, and ACKed AA/AE/AR."""
from __future__ import annotations

import json
import urllib.request

import pytest
from sqlalchemy import text

from conformance.sandbox.v2_ehr import V2Ehr
from gateway.app import create_app
from gateway.services.inbound import InboundApplier
from gateway.settings import settings_from_mapping
from gateway.sync.inbound import InboundHandler
from gateway.transports.mllp import MllpServer

FHIR_JSON = "application/fhir+json"
A04 = ("MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124080000||ADT^A04^ADT_A01|IN-1|P|2.5.1\r"
       "EVN|A04|20261124080000\rPID|1||MRN-9001^^^CLINIC^MR||Nguyen^Linh||19990721|F|||"
       "12 Elm St^^Springfield^IL^62703||555-0103^PRN^PH\rPV1|1|N\r")


@pytest.fixture
def world(settings_overrides):
    ehr = V2Ehr("127.0.0.1").start()
    overrides = dict(settings_overrides, backends=[{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.1.0",
        "endpoint": ehr.mllp_url, "resources": ["Patient", "Appointment"],
        "options": {"mrn_system": "urn:oid:1.2.3", "timezone": "America/Chicago"}}])
    app = create_app(settings_from_mapping(overrides))
    container = app.extensions["fhir_gateway"]
    backend = container.settings.backends[1]
    handler = InboundHandler(backend, container.profiles[backend.profile], InboundApplier(container.fhir))
    listener = MllpServer("127.0.0.1", 0, handler).start()
    yield ehr, listener, app.test_client(), container
    listener.stop()
    ehr.stop()
    container.db.dispose()


def _sch(placer: str, reason: str = "", duration: str = "", status: str = "") -> str:
    fields = [""] * 26
    fields[0], fields[1], fields[7], fields[9], fields[25] = "SCH", placer, reason, duration, status
    return "|".join(fields) + "\r"


def feed(ehr, listener, *messages) -> list[dict]:
    body = json.dumps({"host": "127.0.0.1", "port": listener.port, "message": list(messages)}).encode()
    request = urllib.request.Request(f"{ehr.http_url}/feed", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def _results(reply) -> list[dict]:
    return reply["results"] if isinstance(reply, dict) and "results" in reply else reply


def _register_at_ehr(ehr, message: str) -> None:
    """The patient is the EHR's own: it holds the registration the feed announces."""
    from gateway.transports.mllp import MllpClient
    with MllpClient("127.0.0.1", ehr.mllp_port) as client:
        assert "|AA|" in client.send(message)


def test_adt_feed_creates_then_merges_into_the_mirror(world):
    ehr, listener, client, container = world
    _register_at_ehr(ehr, A04)
    [ack] = _results(feed(ehr, listener, A04))
    assert ack["ack_code"] == "AA", ack
    found = client.get("/fhir/Patient?identifier=urn:oid:1.2.3|MRN-9001").get_json()
    assert found["total"] == 1
    patient = found["entry"][0]["resource"]
    assert patient["name"][0]["family"] == "Nguyen" and patient["birthDate"] == "1999-07-21"
    # the front desk adds an email the EHR does not know about ...
    patient["telecom"].append({"system": "email", "value": "linh@example.org"})
    patient.pop("meta")
    assert client.put(f"/fhir/Patient/{patient['id']}", data=json.dumps(patient),
                      content_type=FHIR_JSON).status_code == 200
    # ... and the EHR's A08 changes the address: the email survives only if not in the message
    a08 = A04.replace("ADT^A04", "ADT^A08").replace("IN-1", "IN-2").replace("12 Elm St", "99 Oak Ave")
    [ack] = _results(feed(ehr, listener, a08))
    assert ack["ack_code"] == "AA", ack
    after = client.get(f"/fhir/Patient/{patient['id']}").get_json()
    assert after["address"][0]["line"] == ["99 Oak Ave"]
    assert after["meta"]["versionId"] == "3"
    # merge is per element: telecom came in the A08 too, so the EHR's list wins; the note
    # in gateway/services/inbound.py says why (no element-level diff without the sync engine)
    with container.db.read() as session:
        rows = session.execute(text("SELECT status, message_type FROM inbound_messages ORDER BY pk")).all()
    assert [tuple(r) for r in rows] == [("applied", "ADT^A04"), ("applied", "ADT^A08")]


def test_siu_for_a_known_patient_links_the_local_patient(world):
    ehr, listener, client, _container = world
    feed(ehr, listener, A04)
    siu = ("MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124080000||SIU^S12^SIU_S12|IN-3|P|2.5.1\r"
           + _sch("EHR-APT-7^EHR", reason="^Checkup", duration="20", status="Booked") +
           "TQ1|1||||||202612010900|202612010920\rPID|1||MRN-9001^^^CLINIC^MR||Nguyen^Linh\rRGS|1\r")
    [ack] = _results(feed(ehr, listener, siu))
    assert ack["ack_code"] == "AA", ack
    pid = client.get("/fhir/Patient?identifier=MRN-9001").get_json()["entry"][0]["resource"]["id"]
    appointments = client.get(f"/fhir/Appointment?patient=Patient/{pid}").get_json()
    assert appointments["total"] == 1
    assert appointments["entry"][0]["resource"]["start"] == "2026-12-01T09:00:00-06:00"


@pytest.mark.parametrize("message, code", [
    ("MSH|^~\\&|EHR|C|GW|G|2026||ORU^R01|IN-4|P|2.5.1\rPID|1||X\r", "AR"),   # not mapped
    ("MSH|^~\\&|EHR|C|GW|G|2026||ADT^A04|IN-5|P|2.5.1\rPID|1||^^^A||DOE\r", "AR"),  # no MRN
    ("MSH|^~\\&|EHR|C|GW|G|2026||ADT^A04|IN-6|P|2.5.1\rPID|1||M1||DOE||1980|Q\r", "AR"),  # bad sex
    ("MSH|^~\\&|EHR|C|GW|G|2026||SIU^S12|IN-7|P|2.5.1\r" + _sch("X9", status="Booked") +
     "TQ1|1||||||202612010900|202612010920\rPID|1||UNKNOWN-MRN\r", "AR"),  # patient not known
])
def test_messages_that_cannot_be_applied_are_nakked_and_kept(world, message, code):
    ehr, listener, client, container = world
    [ack] = _results(feed(ehr, listener, message))
    assert ack["ack_code"] == code, ack
    assert ack["error_text"]
    assert client.get("/fhir/Patient?_summary=count").get_json()["total"] == 0
    with container.db.read() as session:
        status = session.execute(text("SELECT status FROM inbound_messages")).scalar()
    assert status == "refused"


def test_undecodable_bytes_are_refused_with_an_ack(world):
    _ehr, listener, _client, _container = world
    from gateway.transports.mllp import MllpClient, classify_ack
    raw = b"MSH|^~\\&|EHR|C|GW|G|2026||ADT^A04|IN-8|P|2.5.1\rPID|1||M1||D\xff\xfeOE\r"
    with MllpClient("127.0.0.1", listener.port) as client:
        reply = client.send_bytes(raw).decode()
    assert classify_ack(reply).code == "AR"


# --- hl7v2-generic@2.5.1-1.3.0: merges, documents, unsupported types, Z-segments ---------------

@pytest.fixture
def world13(settings_overrides):
    ehr = V2Ehr("127.0.0.1").start()
    overrides = dict(settings_overrides, backends=[{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.3.0",
        "endpoint": ehr.mllp_url, "resources": ["Patient", "Appointment", "DocumentReference"],
        "options": {"mrn_system": "urn:oid:1.2.3", "timezone": "America/Chicago"}}])
    app = create_app(settings_from_mapping(overrides))
    container = app.extensions["fhir_gateway"]
    backend = container.settings.backends[1]
    handler = InboundHandler(backend, container.profiles[backend.profile], InboundApplier(container.fhir))
    listener = MllpServer("127.0.0.1", 0, handler).start()
    yield ehr, listener, app.test_client(), container
    listener.stop()
    ehr.stop()
    container.db.dispose()


def _a04(mrn: str, name: str, control: str) -> str:
    return (f"MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124080000||ADT^A04^ADT_A01|{control}|P|2.5.1\r"
            f"EVN|A04|20261124080000\rPID|1||{mrn}^^^CLINIC^MR||{name}||19990721|F\rPV1|1|N\r")


def _a40(survivor: str, merged: str, control: str) -> str:
    return (f"MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124090000||ADT^A40^ADT_A39|{control}|P|2.5.1\r"
            f"EVN|A40|20261124090000\rPID|1||{survivor}^^^CLINIC^MR||Nguyen^Linh||19990721|F\r"
            f"MRG|{merged}^^^CLINIC^MR\r")


def _by_name(client, family: str) -> dict:
    """Local search (`name` is not a parameter the EHR is asked about)."""
    return {p["resource"]["identifier"][0]["value"]: p["resource"]
            for p in client.get(f"/fhir/Patient?name={family}").get_json().get("entry", [])}


def _rows(container) -> list[tuple]:
    with container.db.read() as session:
        return [tuple(r) for r in session.execute(text(
            "SELECT message_type, status, detail, raw FROM inbound_messages ORDER BY pk")).all()]


def test_a40_merges_the_old_patient_into_the_survivor(world13):
    ehr, listener, client, container = world13
    acks = _results(feed(ehr, listener, _a04("MRN-1", "Nguyen^Linh", "M-1"), _a04("MRN-9", "Nguyen^L", "M-2"),
                         _a40("MRN-1", "MRN-9", "M-3")))
    assert [a["ack_code"] for a in acks] == ["AA", "AA", "AA"], acks
    patients = _by_name(client, "Nguyen")
    survivor, merged = patients["MRN-1"], patients["MRN-9"]
    assert merged["active"] is False
    assert merged["link"] == [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]
    assert survivor["link"] == [{"other": {"reference": f"Patient/{merged['id']}"}, "type": "replaces"}]
    assert _rows(container)[-1][:2] == ("ADT^A40", "applied")


@pytest.mark.parametrize("survivor, merged", [("MRN-1", "MRN-404"), ("MRN-404", "MRN-1")])
def test_a40_naming_an_unknown_patient_changes_nothing(world13, survivor, merged):
    ehr, listener, client, container = world13
    feed(ehr, listener, _a04("MRN-1", "Nguyen^Linh", "U-1"))
    before = _by_name(client, "Nguyen")["MRN-1"]["meta"]["versionId"]
    [ack] = _results(feed(ehr, listener, _a40(survivor, merged, "U-2")))
    assert ack["ack_code"] == "AE" and "MRN-404" in ack["error_text"], ack
    after = _by_name(client, "Nguyen")
    assert list(after) == ["MRN-1"] and after["MRN-1"]["meta"]["versionId"] == before
    assert "link" not in after["MRN-1"]
    assert _rows(container)[-1][:2] == ("ADT^A40", "failed")


def test_mdm_t02_becomes_a_document_of_the_known_patient(world13):
    ehr, listener, client, _container = world13
    feed(ehr, listener, _a04("MRN-1", "Nguyen^Linh", "D-1"))
    mdm = ("MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124080000||MDM^T02^MDM_T02|D-2|P|2.5.1\r"
           "EVN|T02|20261124080000\rPID|1||MRN-1^^^CLINIC^MR||Nguyen^Linh\rPV1|1|N\r"
           "TXA|1|CN|AP|||20261123101500||||||DOC-9|||||AU||AV\r"
           "OBX|1|ED|DOC^Document^L||^application^pdf^Base64^JVBERi0xLjQKJSVFT0YK||||||F\r")
    [ack] = _results(feed(ehr, listener, mdm))
    assert ack["ack_code"] == "AA", ack
    pid = _by_name(client, "Nguyen")["MRN-1"]["id"]
    found = client.get(f"/fhir/DocumentReference?subject=Patient/{pid}").get_json()
    assert found["total"] == 1
    document = found["entry"][0]["resource"]
    assert document["content"][0]["attachment"] == {"contentType": "application/pdf", "data": "JVBERi0xLjQKJSVFT0YK"}
    assert document["date"] == "2026-11-23T10:15:00-06:00"  # naive TXA-6 takes the backend zone
    assert document["masterIdentifier"]["value"] == "DOC-9" and document["docStatus"] == "final"


@pytest.mark.parametrize("message", [
    "MSH|^~\\&|EHR|C|GW|G|2026||ORU^R01^ORU_R01|X-1|P|2.5.1\rPID|1||MRN-1\rOBR|1\rOBX|1|NM|X||1\r",
    "MSH|^~\\&|EHR|C|GW|G|2026||MDM^T01^MDM_T01|X-2|P|2.5.1\rEVN|T01|2026\rPID|1||MRN-1\rTXA|1|CN\r",
    "MSH|^~\\&|EHR|C|GW|G|2026||RSP^K22^RSP_K21|X-3|P|2.5.1\rMSA|AA|Q1\rQAK|Q1|OK\r",
])
def test_unclaimed_message_types_get_ar_unsupported_message_type(world13, message):
    ehr, listener, _client, container = world13
    from gateway.transports.mllp import MllpClient
    with MllpClient("127.0.0.1", listener.port) as mllp:
        reply = mllp.send(message)
    msa = next(s for s in reply.split("\r") if s.startswith("MSA")).split("|")
    err = next(s for s in reply.split("\r") if s.startswith("ERR")).split("|")
    assert msa[1] == "AR" and err[3] == "200" and "unsupported message type" in err[8]
    assert _rows(container)[-1][1] == "refused"


def test_an_unmapped_z_segment_is_kept_on_the_raw_record_and_named(world13):
    ehr, listener, client, container = world13
    message = _a04("MRN-1", "Nguyen^Linh", "Z-1") + "ZPV|1|PORTAL^Yes\rZXY|1|site flag\r"
    [ack] = _results(feed(ehr, listener, message))
    assert ack["ack_code"] == "AA", ack
    _type, status, detail, raw = _rows(container)[-1]
    assert status == "applied" and "unmapped Z-segments kept on the raw record only: ZXY" in detail
    assert "ZXY|1|site flag" in raw
    patient = _by_name(client, "Nguyen")["MRN-1"]  # ZPV is carried on the Patient, verbatim
    assert {"url": "https://fhir-gateway.dev/fhir/StructureDefinition/hl7v2-segment",
            "valueString": "ZPV|1|PORTAL^Yes"} in patient["extension"]
