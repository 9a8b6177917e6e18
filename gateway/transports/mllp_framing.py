"""MLLP framing: wrap a payload in a block, and an incremental decoder for a byte stream.

May import: stdlib only (this module does no I/O). The frame is <SB> payload <EB><CR> with
SB=0x0B, EB=0x1C, CR=0x0D (HL7 v2.5.1 Appendix C.4, Minimal Lower Layer Protocol; MLLP
Release 2, section 2.3). The decoder is fed whatever each recv() returned, so it copes with a
frame split over many reads, several frames in one read, and bytes outside any frame.
"""
from __future__ import annotations

from gateway.transports.mllp_errors import MllpFrameError

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
DEFAULT_MAX_FRAME = 16 * 1024 * 1024  # a base64 PDF in MDM^T02 OBX-5 can be several MB


def frame(payload: bytes) -> bytes:
    """The MLLP block for one payload. A payload may not contain SB or EB (they are not
    valid in HL7 ER7 text, which escapes its delimiters), so they are refused, not mangled."""
    if START_BLOCK in payload or END_BLOCK in payload:
        raise ValueError("payload contains an MLLP block character (0x0B or 0x1C)")
    return START_BLOCK + payload + END_BLOCK + CARRIAGE_RETURN


class FrameDecoder:
    """Turns a stream of chunks into complete payloads.

    `feed()` returns the payloads completed by a chunk; bytes seen outside any frame are kept
    in `garbage` (one entry per run) for the caller to report. `finish()` is called at end of
    stream and raises if a frame was cut short. A frame growing beyond `max_frame` raises
    MllpFrameError; the decoder then skips to the next start block.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.garbage: list[bytes] = []
        self._buffer = bytearray()
        self._in_frame = False
        self._expect_cr = False
        self._skipping = False  # after an oversize frame, until the next start block

    @property
    def in_frame(self) -> bool:
        """True while a frame has started and not yet ended."""
        return self._in_frame

    def feed(self, chunk: bytes) -> list[bytes]:
        frames: list[bytes] = []
        data = memoryview(chunk)
        pos = 0
        while pos < len(data):
            if self._expect_cr:
                self._expect_cr = False
                # Tolerate a missing CR after EB (some senders omit it); MLLP R2 requires it.
                if data[pos] == 0x0D:
                    pos += 1
                continue
            if self._in_frame:
                pos = self._feed_inside(data, pos, frames)
            else:
                pos = self._feed_outside(data, pos)
        return frames

    def _feed_outside(self, data: memoryview, pos: int) -> int:
        start = bytes(data[pos:]).find(START_BLOCK)
        if start < 0:
            self._note_garbage(bytes(data[pos:]))
            return len(data)
        self._note_garbage(bytes(data[pos:pos + start]))
        self._in_frame, self._skipping = True, False
        self._buffer.clear()
        return pos + start + 1

    def _feed_inside(self, data: memoryview, pos: int, frames: list[bytes]) -> int:
        rest = bytes(data[pos:])
        end = rest.find(END_BLOCK)
        restart = rest.find(START_BLOCK, 0, end if end >= 0 else len(rest))
        if restart >= 0:
            # A new start block inside a frame: the sender abandoned the previous one.
            self._note_garbage(START_BLOCK + bytes(self._buffer) + rest[:restart])
            self._buffer.clear()
            return pos + restart + 1
        piece = rest if end < 0 else rest[:end]
        self._buffer += piece
        if len(self._buffer) > self.max_frame:
            size = len(self._buffer)
            self._buffer.clear()
            self._in_frame, self._skipping = False, True
            raise MllpFrameError(f"MLLP frame larger than {self.max_frame} bytes ({size} so far)")
        if end < 0:
            return len(data)
        frames.append(bytes(self._buffer))
        self._buffer.clear()
        self._in_frame, self._expect_cr = False, True
        return pos + end + 1

    def _note_garbage(self, data: bytes) -> None:
        if data and not self._skipping:
            self.garbage.append(data)

    def pop_garbage(self) -> list[bytes]:
        """The runs of bytes seen outside frames since the last call."""
        runs, self.garbage = self.garbage, []
        return runs

    def finish(self) -> None:
        """End of stream: a frame that started and never ended is an error, not a silent drop."""
        if self._in_frame:
            size = len(self._buffer)
            self._buffer.clear()
            self._in_frame = False
            raise MllpFrameError(f"stream ended inside an MLLP frame ({size} bytes, no end block)")
