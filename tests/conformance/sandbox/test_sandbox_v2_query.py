"""IHE PDQ (QBP^Q22 -> RSP^K22) against the sandbox v2 EHR over MLLP."""
from __future__ import annotations

import hl7
import pytest
from sandbox_messages import adt, corpus_message

from gateway.transports.mllp import classify_ack

pytestmark = pytest.mark.live


def _query(qpd3: str, control_id: str = "Q1", rcp: str = "RCP|I|") -> str:
    return (f"MSH|^~\\&|GW|FAC|EHR|FAC|20240101||QBP^Q22^QBP_Q21|{control_id}|P|2.5\r"
            f"QPD|IHE PDQ Query|TAG-{control_id}|{qpd3}\r{rcp}\r")


@pytest.fixture
def seeded(mllp):
    for n, (mrn, family, given, dob) in enumerate([("A1", "SMITH", "JOHN", "19800101"),
                                                   ("A2", "SMITH", "JANE", "19900202"),
                                                   ("A3", "SMYTHE", "JOAN", "19800101"),
                                                   ("A4", "JONES", "JOHN", "19800101")]):
        assert classify_ack(mllp.send(adt("A04", f"S{n}", mrn, family, given, dob))).delivered
    return mllp


def _pids(reply: str) -> list[str]:
    message = hl7.parse(reply)
    return [str(seg[3][0][0]) if isinstance(seg[3][0], hl7.containers.Repetition) else str(seg[3])
            for seg in message if str(seg[0]) == "PID"]


def _answer(reply: str) -> tuple[str, str, str]:
    message = hl7.parse(reply)
    return (str(message.segment("MSA")[1]), str(message.segment("QAK")[1]),
            str(message.segment("QAK")[2]))


@pytest.mark.parametrize("qpd3,mrns", [
    ("@PID.5.1^SMITH~@PID.7^19800101", ["A1"]),
    ("@PID.5.1^smith", ["A1", "A2"]),
    ("@PID.5.1^SM*", ["A1", "A2", "A3"]),
    ("@PID.7^19800101", ["A1", "A3", "A4"]),
    ("@PID.5.2^JOHN~@PID.8^M", ["A1", "A4"]),
    ("@PID.3.1^A2", ["A2"]),
])
def test_query_returns_one_pid_per_match(seeded, qpd3, mrns):
    reply = seeded.send(_query(qpd3))
    assert reply.split("\r")[0].split("|")[8] == "RSP^K22^RSP_K21"
    assert _answer(reply) == ("AA", "TAG-Q1", "OK")
    assert _pids(reply) == mrns
    assert f"QPD|IHE PDQ Query|TAG-Q1|{qpd3}" in reply  # the query is echoed
    assert classify_ack(reply, "Q1").delivered


def test_no_match_answers_nf(seeded):
    reply = seeded.send(_query("@PID.5.1^NOBODY"))
    assert _answer(reply) == ("AA", "TAG-Q1", "NF") and _pids(reply) == []


def test_rcp_2_limits_the_count(seeded):
    assert len(_pids(seeded.send(_query("@PID.7^19800101", rcp="RCP|I|2^RD")))) == 2


@pytest.mark.parametrize("qpd3", ["@PID.99^X", ""])
def test_unsupported_or_empty_query_is_ae(seeded, qpd3):
    reply = seeded.send(_query(qpd3))
    assert _answer(reply)[0] == "AE" and _answer(reply)[2] == "AE"
    assert classify_ack(reply).kind == "retryable"


def test_merged_patients_are_not_returned(seeded):
    classify_ack(seeded.send(adt("A40", "MG", "A1", extra="MRG|A2^^^HOSP^MR\r")))
    assert _pids(seeded.send(_query("@PID.5.1^SMITH"))) == ["A1"]


def test_corpus_pdq_request_is_answered(seeded):
    reply = seeded.send(corpus_message("QBP-Q22-hl7apy-pdq-req.hl7"))
    assert _answer(reply) == ("AA", "111069", "NF")
