"""The sandbox v2 EHR over MLLP: ACK/NAK rules, its tables, its inbox and fault injection,
observed through the gateway's own MllpClient."""
from __future__ import annotations

import pytest
import requests
from sandbox_messages import adt, corpus_message

from gateway.transports.mllp import (MllpClient, MllpConnectError, MllpProtocolError,
                                     MllpTimeout, classify_ack)

pytestmark = pytest.mark.live


def _inbox(ehr) -> list[dict]:
    return requests.get(ehr.inbox_url, timeout=5).json()


def test_accepted_message_is_acked_aa_stored_and_listed_in_the_inbox(v2_ehr, mllp):
    message = adt("A04", "CTL-1", "MRN1")
    result = classify_ack(mllp.send(message), "CTL-1")
    assert (result.code, result.kind) == ("AA", "delivered")
    [entry] = _inbox(v2_ehr)
    assert (entry["type"], entry["control_id"], entry["ack_code"]) == ("ADT^A04", "CTL-1", "AA")
    assert entry["raw"] == message
    [patient] = requests.get(f"{v2_ehr.http_url}/patients", timeout=5).json()
    assert {k: patient[k] for k in ("mrn", "family", "given", "birth_date", "sex", "city", "phone")} == {
        "mrn": "MRN1", "family": "SMITH", "given": "JOHN", "birth_date": "19800101", "sex": "M",
        "city": "Springfield", "phone": "555-0100"}


def test_a08_for_unknown_patient_is_ae_then_accepted_once_registered(v2_ehr, mllp):
    refused = classify_ack(mllp.send(adt("A08", "U1", "MRN9", family="JONES")))
    assert (refused.code, refused.kind) == ("AE", "retryable")
    assert "unknown patient" in refused.error_text
    assert classify_ack(mllp.send(adt("A04", "U2", "MRN9"))).delivered
    assert classify_ack(mllp.send(adt("A08", "U3", "MRN9", family="JONES"))).delivered
    assert v2_ehr.store.patient("MRN9")["family"] == "JONES"
    assert [e["ack_code"] for e in _inbox(v2_ehr)] == ["AE", "AA", "AA"]


@pytest.mark.parametrize("message,code,text", [
    (adt("A04", "", "M1"), "AR", "MSH-10"),
    ("this is not HL7 at all", "AR", "MSH"),
    (adt("A04", "V1", "M1", version="9.9"), "AR", "version"),
    (adt("A04", "T1", "M1").replace("ADT^A04^ADT_A01", "ORU^R01"), "AR", "ORU"),
    (adt("A02", "T2", "M1"), "AR", "ADT^A02"),
    (adt("A04", "P1", "").replace("^^^HOSP^MR", ""), "AR", "PID-3"),
    ("MSH|^~\\&|GW|FAC|EHR|FAC|20240101||ADT^A04|N1|P|2.5.1\rEVN|A04\r", "AR", "PID segment missing"),
])
def test_unacceptable_messages_are_naked_with_err(v2_ehr, mllp, message, code, text):
    result = classify_ack(mllp.send(message))
    assert result.code == code and text in result.error_text
    assert _inbox(v2_ehr)[-1]["ack_code"] == code
    assert classify_ack(mllp.send(adt("A04", "AFTER", "OK1"))).delivered  # connection still good


def test_a40_merges_the_prior_patient_into_the_survivor(v2_ehr, mllp):
    classify_ack(mllp.send(adt("A04", "M1", "OLD")))
    merge = adt("A40", "M2", "NEW", family="MERGED", extra="MRG|OLD^^^HOSP^MR\r")
    assert classify_ack(mllp.send(merge)).delivered
    assert v2_ehr.store.patient("OLD")["merged_into"] == "NEW"
    assert v2_ehr.store.patient("NEW")["family"] == "MERGED"
    unknown = classify_ack(mllp.send(adt("A40", "M3", "NEW", extra="MRG|NOPE^^^HOSP^MR\r")))
    assert unknown.code == "AE" and "NOPE" in unknown.error_text


def test_corpus_adt_and_siu_messages_update_the_tables(v2_ehr, mllp):
    assert classify_ack(mllp.send(corpus_message("ADT-A08-01.hl7"))).code == "AE"  # not yet known
    for name in ("ADT-A04-01.hl7", "ADT-A08-01.hl7", "SIU-S12-01.hl7", "ADT04-23.hl7"):
        assert classify_ack(mllp.send(corpus_message(name))).delivered, name
    patient = v2_ehr.store.patient("PATID1234")
    assert (patient["family"], patient["given"], patient["assigning_authority"]) == (
        "EVERYMAN", "ADAM", "test1")
    assert v2_ehr.store.patient("123456789")["family"] == "BROS"  # the v2.3 message
    appointment = v2_ehr.store.appointment("12345")
    assert (appointment["patient_mrn"], appointment["status"], appointment["start"]) == (
        "PATID1234", "Booked", "20210924093000+0215")
    assert classify_ack(mllp.send(corpus_message("SIU-S12-01.hl7"))).code == "AR"  # duplicate
    assert classify_ack(mllp.send(corpus_message("SIU-S15-01.hl7"))).delivered
    assert v2_ehr.store.appointment("12345")["status"] == "Cancelled"


def test_several_messages_share_one_connection(v2_ehr, mllp):
    for n in range(5):
        assert classify_ack(mllp.send(adt("A04", f"R{n}", f"MRN{n}")), f"R{n}").delivered
    assert v2_ehr.mllp.connections_accepted == 1 and mllp.connections_opened == 1


def _arm(ehr, **fault) -> None:
    response = requests.post(f"{ehr.http_url}/faults", json=fault, timeout=5)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("mode,code,kind", [("nak-ae", "AE", "retryable"),
                                            ("nak-ar", "AR", "permanent")])
def test_nak_faults_are_classified_with_their_text(v2_ehr, mllp, mode, code, kind):
    _arm(v2_ehr, mode=mode, count=2, text="database locked")
    for n in range(2):
        result = classify_ack(mllp.send(adt("A04", f"F{n}", "MRNF")), f"F{n}")
        assert (result.code, result.kind) == (code, kind) and "database locked" in result.error_text
    assert classify_ack(mllp.send(adt("A04", "F3", "MRNF"))).delivered  # count used up
    assert [e["ack_code"] for e in _inbox(v2_ehr)] == [code, code, "AA"]


def test_drop_fault_closes_without_ack_and_the_client_reconnects(v2_ehr, mllp):
    _arm(v2_ehr, mode="drop", count=1)
    with pytest.raises(MllpConnectError) as caught:
        mllp.send(adt("A04", "D1", "MRND"))
    assert caught.value.sent is True
    assert classify_ack(mllp.send(adt("A04", "D2", "MRND"))).delivered
    assert v2_ehr.mllp.connections_accepted == 2
    assert [e["ack_code"] for e in _inbox(v2_ehr)] == [None, "AA"]


def test_garbled_fault_is_a_protocol_error(v2_ehr, mllp):
    _arm(v2_ehr, mode="garbled")
    with pytest.raises(MllpProtocolError):
        mllp.send(adt("A04", "G1", "MRNG"))
    assert classify_ack(mllp.send(adt("A04", "G2", "MRNG"))).delivered


def test_slow_fault_times_out_a_short_read_timeout(v2_ehr):
    _arm(v2_ehr, mode="slow", delay=0.5)
    with MllpClient("127.0.0.1", v2_ehr.mllp_port, read_timeout=0.15) as client:
        with pytest.raises(MllpTimeout):
            client.send(adt("A04", "S1", "MRNS"))


def test_fault_api_refuses_bad_bodies_and_can_be_cleared(v2_ehr):
    url = f"{v2_ehr.http_url}/faults"
    assert requests.post(url, data="{not json", timeout=5).status_code == 400
    assert requests.post(url, json={"mode": "explode"}, timeout=5).status_code == 400
    assert requests.post(url, json={"mode": "drop", "count": 0}, timeout=5).status_code == 400
    assert requests.post(url, json={"mode": "drop", "colour": 1}, timeout=5).status_code == 400
    _arm(v2_ehr, mode="drop", count=3)
    assert requests.get(url, timeout=5).json()["count"] == 3
    assert requests.delete(url, timeout=5).status_code == 204
    assert requests.get(url, timeout=5).json() is None


def test_feed_sends_messages_to_another_listener_and_reports_the_acks(v2_ehr, tmp_path):
    from conformance.sandbox.v2_ehr import V2Ehr
    with V2Ehr("127.0.0.1", 0, 0, None) as listener:  # stands in for the gateway's listener
        body = {"host": "127.0.0.1", "port": listener.mllp_port,
                "message": [adt("A04", "FD1", "MRNX").replace("\r", "\n"),
                            adt("A08", "FD2", "NOBODY")]}
        response = requests.post(f"{v2_ehr.http_url}/feed", json=body, timeout=10)
        assert response.status_code == 200
        results = response.json()["results"]
        assert [(r["control_id"], r["ack_code"], r["kind"]) for r in results] == [
            ("FD1", "AA", "delivered"), ("FD2", "AE", "retryable")]
        assert listener.store.patient("MRNX") is not None
        assert listener.mllp.connections_accepted == 1


def test_feed_to_a_closed_port_reports_the_transport_error(v2_ehr):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    body = {"port": port, "message": adt("A04", "X1", "M"), "timeout": 1}
    [result] = requests.post(f"{v2_ehr.http_url}/feed", json=body, timeout=10).json()["results"]
    assert result["error"].startswith("MllpConnectError") and result["sent"] is False


@pytest.mark.parametrize("body", [None, [], {"port": "x", "message": "MSH"}, {"port": 1},
                                  {"port": 1, "message": []}, {"port": 1, "message": ["  "]}])
def test_feed_refuses_bad_bodies(v2_ehr, body):
    response = requests.post(f"{v2_ehr.http_url}/feed", json=body, timeout=5)
    assert response.status_code == 400 and "error" in response.json()


def test_inbox_since_and_reset(v2_ehr, mllp):
    mllp.send(adt("A04", "I1", "M1"))
    mllp.send(adt("A04", "I2", "M2"))
    first = _inbox(v2_ehr)[0]["id"]
    since = requests.get(v2_ehr.inbox_url, params={"since": first}, timeout=5).json()
    assert [e["control_id"] for e in since] == ["I2"]
    assert requests.get(v2_ehr.inbox_url, params={"since": "x"}, timeout=5).status_code == 400
    assert requests.post(f"{v2_ehr.http_url}/reset", timeout=5).status_code == 204
    assert _inbox(v2_ehr) == [] and v2_ehr.store.patients() == []


def test_iso_8859_1_message_is_decoded_by_msh_18(v2_ehr, mllp):
    message = adt("A04", "C1", "MRNC", family="MÜLLER").replace(
        "|P|2.5.1\r", "|P|2.5.1|||||||8859/1\r", 1)
    assert classify_ack(mllp.send(message, charset="latin-1")).delivered
    assert v2_ehr.store.patient("MRNC")["family"] == "MÜLLER"
    assert _inbox(v2_ehr)[0]["charset"] == "cp1252"


def test_a28_adds_and_a31_updates_a_person(v2_ehr, mllp):
    assert classify_ack(mllp.send(adt("A31", "P0", "PER1"))).code == "AE"
    assert classify_ack(mllp.send(adt("A28", "P1", "PER1"))).delivered
    assert classify_ack(mllp.send(adt("A31", "P2", "PER1", given="JAMES"))).delivered
    assert v2_ehr.store.patient("PER1")["given"] == "JAMES"


def test_siu_book_reschedule_modify_cancel_and_no_show(v2_ehr, mllp):
    from sandbox_messages import siu
    assert classify_ack(mllp.send(siu("S13", "B0", "AP1"))).code == "AE"  # unknown appointment
    assert classify_ack(mllp.send(siu("S12", "B1", "AP1"))).delivered
    booked = v2_ehr.store.appointment("AP1")
    assert (booked["status"], booked["start"], booked["location"], booked["provider"],
            booked["reason"], booked["patient_mrn"]) == (
        "Booked", "20240501090000-0500", "ROOM1", "JOHN WHO", "Annual checkup", "MRN1")
    assert v2_ehr.store.patient("MRN1") is not None  # the PID registered the patient
    assert classify_ack(mllp.send(siu("S13", "B2", "AP1", start="20240502100000-0500"))).delivered
    assert v2_ehr.store.appointment("AP1")["start"] == "20240502100000-0500"
    assert classify_ack(mllp.send(siu("S14", "B3", "AP1", status="Arrived"))).delivered
    assert v2_ehr.store.appointment("AP1")["status"] == "Arrived"
    assert classify_ack(mllp.send(siu("S26", "B4", "AP1"))).delivered
    assert v2_ehr.store.appointment("AP1")["status"] == "Noshow"
    assert classify_ack(mllp.send(siu("S15", "B5", "AP1"))).delivered
    assert v2_ehr.store.appointment("AP1")["status"] == "Cancelled"
    assert classify_ack(mllp.send(siu("S17", "B6", "AP1"))).code == "AR"  # not supported
