"""ACK classification (gateway.transports.hl7_ack): MSA-1 kinds, ERR text, bad replies."""
from __future__ import annotations

import pytest

from gateway.transports.hl7_ack import classify_ack
from gateway.transports.mllp_errors import MllpProtocolError

MSH = "MSH|^~\\&|EHR|FAC|GW|FAC|20240101120000||ACK^A04^ACK|R1|P|2.5.1\r"


@pytest.mark.parametrize("code,kind", [("AA", "delivered"), ("CA", "delivered"),
                                       ("AE", "retryable"), ("CE", "retryable"),
                                       ("AR", "permanent"), ("CR", "permanent")])
def test_each_acknowledgment_code_has_its_kind(code, kind):
    result = classify_ack(f"{MSH}MSA|{code}|CTL42\r")
    assert (result.code, result.control_id, result.kind) == (code, "CTL42", kind)
    assert result.delivered == (kind == "delivered")
    assert result.error_text == ""


def test_err_8_user_message_with_err_3_code_text():
    reply = (f"{MSH}MSA|AE|C1\r"
             "ERR||PID^1^3|204^Unknown key identifier^HL70357|E||||No patient with MRN 7\r")
    assert classify_ack(reply).error_text == "No patient with MRN 7 (Unknown key identifier)"


def test_err_3_alone_gives_the_code_text():
    assert classify_ack(f"{MSH}MSA|AR|C1\rERR||MSH^1^10|101^Required field missing^HL70357|E\r"
                        ).error_text == "Required field missing"


def test_v23_err_1_code_in_subcomponents():
    reply = f"{MSH}MSA|AR|C1\rERR|PID^1^3^204&Unknown key identifier&HL70357\r"
    assert classify_ack(reply).error_text == "Unknown key identifier"


def test_msa_3_text_is_kept_and_several_err_segments_joined():
    reply = (f"{MSH}MSA|AE|C1|Try later\rERR||||E||||first\rERR||||E||||second\r")
    assert classify_ack(reply).error_text == "first; second; Try later"


def test_escaped_delimiters_in_error_text_are_unescaped():
    reply = f"{MSH}MSA|AE|C1\rERR||||E||||name A\\F\\B \\S\\ x\\T\\y\\E\\\r"
    assert classify_ack(reply).error_text == "name A|B ^ x&y\\"


def test_custom_delimiters_from_msh_1_and_msh_2():
    reply = "MSH#$~\\&#EHR#FAC#GW#FAC#20240101##ACK$A04#R1#P#2.5.1\rMSA#AE#C9\rERR####E####bad$thing\r"
    result = classify_ack(reply)
    assert (result.code, result.control_id, result.error_text) == ("AE", "C9", "bad$thing")


def test_line_feed_segment_ends_are_tolerated():
    assert classify_ack(MSH.replace("\r", "\n") + "MSA|AA|C1\n").kind == "delivered"


@pytest.mark.parametrize("reply,message", [
    ("", "empty"),
    ("garbage that is not HL7", "MSH"),
    ("MSH|^~|A|B\r", "encoding characters"),
    (f"{MSH}PID|1\r", "no MSA"),
    (f"{MSH}MSA|ZZ|C1\r", "not an acknowledgment code"),
])
def test_replies_that_are_not_acks_are_protocol_errors(reply, message):
    with pytest.raises(MllpProtocolError, match=message) as caught:
        classify_ack(reply)
    assert caught.value.sent is True


def test_ack_for_another_message_is_a_protocol_error():
    with pytest.raises(MllpProtocolError, match="not 'C2'"):
        classify_ack(f"{MSH}MSA|AA|C1\r", expected_control_id="C2")
    assert classify_ack(f"{MSH}MSA|AA|C2\r", expected_control_id="C2").delivered
