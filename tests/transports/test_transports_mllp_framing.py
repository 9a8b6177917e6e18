"""MLLP framing (gateway.transports.mllp_framing): partial reads, several frames per read,
garbage, oversize and truncated frames."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.transports.mllp_errors import MllpFrameError, MllpProtocolError
from gateway.transports.mllp_framing import FrameDecoder, frame

MSG = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5.1\rPID|1||42\r"


def test_frame_wraps_payload_in_start_and_end_blocks():
    assert frame(b"abc") == b"\x0babc\x1c\x0d"


@pytest.mark.parametrize("bad", [b"a\x0bb", b"a\x1cb"])
def test_frame_refuses_payload_holding_block_characters(bad):
    with pytest.raises(ValueError):
        frame(bad)


def test_frame_fed_one_byte_at_a_time_comes_out_once_whole():
    decoder = FrameDecoder()
    out = []
    for byte in frame(MSG):
        out += decoder.feed(bytes([byte]))
    assert out == [MSG]
    assert decoder.garbage == [] and not decoder.in_frame
    decoder.finish()  # nothing pending


def test_two_frames_in_one_chunk():
    assert FrameDecoder().feed(frame(b"one") + frame(b"two")) == [b"one", b"two"]


def test_garbage_between_frames_is_reported_not_delivered():
    decoder = FrameDecoder()
    frames = decoder.feed(b"junk" + frame(b"one") + b"\xff\xfe" + frame(b"two") + b"tail")
    assert frames == [b"one", b"two"]
    assert decoder.pop_garbage() == [b"junk", b"\xff\xfe", b"tail"]
    assert decoder.pop_garbage() == []


def test_end_block_and_carriage_return_split_across_reads():
    decoder = FrameDecoder()
    assert decoder.feed(b"\x0bone\x1c") == [b"one"]
    assert decoder.feed(b"\x0d\x0btwo\x1c\x0d") == [b"two"]
    assert decoder.garbage == []


def test_missing_carriage_return_after_end_block_is_tolerated():
    assert FrameDecoder().feed(b"\x0bone\x1c\x0btwo\x1c\x0d") == [b"one", b"two"]


def test_start_block_inside_a_frame_abandons_the_partial_frame_as_garbage():
    decoder = FrameDecoder()
    assert decoder.feed(b"\x0bhalf\x0bwhole\x1c\x0d") == [b"whole"]
    assert decoder.pop_garbage() == [b"\x0bhalf"]


def test_oversize_frame_raises_then_decoder_recovers():
    decoder = FrameDecoder(max_frame=10)
    with pytest.raises(MllpFrameError, match="larger than 10"):
        decoder.feed(b"\x0b" + b"x" * 11)
    # The rest of the oversize frame is skipped silently; the next frame is decoded.
    assert decoder.feed(b"yyy\x1c\x0d" + frame(b"ok")) == [b"ok"]
    assert decoder.garbage == []


def test_oversize_detected_across_reads():
    decoder = FrameDecoder(max_frame=8)
    decoder.feed(b"\x0b12345")
    with pytest.raises(MllpFrameError):
        decoder.feed(b"6789")


def test_truncated_frame_at_end_of_stream_is_an_error():
    decoder = FrameDecoder()
    assert decoder.feed(b"\x0bMSH|partial") == []
    with pytest.raises(MllpFrameError, match="no end block"):
        decoder.finish()
    assert issubclass(MllpFrameError, MllpProtocolError)


@settings(max_examples=60, deadline=None)
@given(payloads=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b"")),
                         min_size=1, max_size=5),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10))
def test_any_chunking_of_a_stream_yields_the_same_frames(payloads, cuts):
    stream = b"".join(frame(p) for p in payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    decoder, out = FrameDecoder(), []
    for start, end in zip(points, points[1:]):
        out += decoder.feed(stream[start:end])
    assert out == payloads
    decoder.finish()
