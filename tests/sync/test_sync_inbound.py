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
