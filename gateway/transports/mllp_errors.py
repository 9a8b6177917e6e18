"""The typed errors an MLLP exchange can end in.

May import: stdlib only. `sent` tells the caller whether the message may have reached the peer:
False means it certainly did not (safe to send again), True means the outcome is unknown (the
peer may have stored it; HL7 receivers are expected to de-duplicate on MSH-10).
"""
from __future__ import annotations


class MllpError(Exception):
    """Base of every MLLP transport error."""

    def __init__(self, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


class MllpConnectError(MllpError):
    """No connection could be made, or the peer closed it before answering."""


class MllpTimeout(MllpError):
    """The peer did not answer within the read timeout (the message was sent)."""


class MllpProtocolError(MllpError):
    """The bytes on the wire are not a well-formed MLLP frame or not an HL7 acknowledgment."""


class MllpFrameError(MllpProtocolError):
    """A framing fault: oversize frame, truncated frame at end of stream."""
