"""MLLP client: one persistent connection to an HL7 v2 receiver, with timeouts and TLS.

May import: stdlib (socket, ssl, select) and the sibling transport modules. No retries here
(they belong to gateway.sync); the one exception is reconnecting once when the peer closed an
idle connection, because then the message certainly never reached it.

Public names re-exported for callers: frame, FrameDecoder, classify_ack, AckResult, the error
classes, and MllpServer (the building block for listeners).
"""
from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time

from gateway.transports.hl7_ack import AckResult, classify_ack
from gateway.transports.mllp_errors import (MllpConnectError, MllpError, MllpFrameError,
                                            MllpProtocolError, MllpTimeout)
from gateway.transports.mllp_framing import DEFAULT_MAX_FRAME, FrameDecoder, frame
from gateway.transports.mllp_server import MllpServer, RawReply

__all__ = ["MllpClient", "MllpServer", "RawReply", "FrameDecoder", "frame", "classify_ack",
           "AckResult", "MllpError", "MllpConnectError", "MllpTimeout", "MllpProtocolError",
           "MllpFrameError"]

log = logging.getLogger(__name__)
_RECV_SIZE = 65536


class MllpClient:
    """Sends one HL7 message at a time and returns the receiver's reply (one MLLP frame).

    The connection is opened on first use and kept for the next message. After a timeout or
    a protocol error it is closed, so a late reply can never be taken for the next message's.
    Thread-safe (one exchange at a time); give each worker its own client for parallelism.
    """

    def __init__(self, host: str, port: int, *, connect_timeout: float = 5.0,
                 read_timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None,
                 server_hostname: str | None = None, charset: str = "utf-8",
                 max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.host, self.port = host, port
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname or host
        self.charset, self.max_frame = charset, max_frame
        self.connections_opened = 0
        self._garbage_seen = False
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder(max_frame)
        self._lock = threading.Lock()

    def __enter__(self) -> "MllpClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def send(self, message: str, *, charset: str | None = None) -> str:
        """Encode `message` with `charset` (default: the client's), send it, and return the
        reply text. A reply that is not valid in that charset is read as ISO 8859-1 (which
        cannot fail) so the ACK can still be classified. A message the charset cannot carry
        raises UnicodeEncodeError (a ValueError) before anything is sent."""
        encoding = charset or self.charset
        reply = self.send_bytes(message.encode(encoding))
        try:
            return reply.decode(encoding)
        except UnicodeDecodeError:
            return reply.decode("latin-1")

    def send_bytes(self, payload: bytes) -> bytes:
        """Send one payload and return the reply payload (the frame's content, raw)."""
        block = frame(payload)
        with self._lock:
            reused = self._sock is not None and self._idle_connection_usable()
            if not reused:
                self._close()
                self._connect()
            try:
                return self._exchange(block)
            except _PeerWasGone:
                if not reused:
                    raise MllpConnectError(f"{self.address} refused the message (connection reset)")
                log.info("MLLP %s: reused connection was closed by the peer; reconnecting once",
                         self.address)
                self._connect()
                try:
                    return self._exchange(block)
                except _PeerWasGone as exc:
                    raise MllpConnectError(f"{self.address} reset the connection again") from exc

    def close(self) -> None:
        with self._lock:
            self._close()

    # -- internals -------------------------------------------------------------------------

    def _connect(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except (socket.timeout, TimeoutError) as exc:
            raise MllpConnectError(f"timed out connecting to {self.address}") from exc
        except OSError as exc:
            raise MllpConnectError(f"cannot connect to {self.address}: {exc.strerror or exc}") from exc
        if self.ssl_context is not None:
            sock = self._start_tls(sock)
        sock.settimeout(self.read_timeout)
        self._sock, self._decoder = sock, FrameDecoder(self.max_frame)
        self.connections_opened += 1

    def _start_tls(self, sock: socket.socket) -> ssl.SSLSocket:
        try:
            return self.ssl_context.wrap_socket(sock, server_hostname=self.server_hostname)
        except (ssl.SSLError, ssl.CertificateError) as exc:
            sock.close()
            raise MllpConnectError(f"TLS handshake with {self.address} failed: {exc}") from exc
        except OSError as exc:
            sock.close()
            raise MllpConnectError(f"TLS handshake with {self.address} failed: {exc}") from exc

    def _idle_connection_usable(self) -> bool:
        """An idle MLLP connection has nothing to read: readable means the peer closed it (EOF,
        TLS close_notify) or sent something unsolicited; either way it is not safe to reuse."""
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return False  # decrypted bytes nobody asked for: a stale reply
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return False
        if readable:
            log.info("MLLP %s: idle connection is readable (closed by peer); not reusing it",
                     self.address)
            return False
        return True

    def _exchange(self, block: bytes) -> bytes:
        try:
            self._sock.sendall(block)
        except OSError as exc:
            # The peer's socket is gone (EPIPE/ECONNRESET): it cannot have read the message.
            self._close()
            raise _PeerWasGone() from exc
        return self._read_reply()

    def _read_reply(self) -> bytes:
        deadline = time.monotonic() + self.read_timeout
        received, self._garbage_seen = 0, False
        while True:
            chunk = self._recv(deadline, received)
            received += len(chunk)
            if not chunk:
                self._fail_at_eof()
            try:
                frames = self._decoder.feed(chunk)
            except MllpFrameError as exc:
                self._close()
                raise MllpProtocolError(f"{self.address}: {exc}", sent=True) from exc
            self._report_garbage()
            if frames:
                if len(frames) > 1:
                    log.warning("MLLP %s: %d extra frames after the reply were discarded",
                                self.address, len(frames) - 1)
                return frames[0]

    def _recv(self, deadline: float, received: int) -> bytes:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise socket.timeout()
            self._sock.settimeout(remaining)
            return self._sock.recv(_RECV_SIZE)
        except (socket.timeout, TimeoutError) as exc:
            self._close()
            raise MllpTimeout(f"no reply from {self.address} within {self.read_timeout}s",
                              sent=True) from exc
        except ConnectionResetError as exc:
            self._close()
            if received == 0:
                raise _PeerWasGone() from exc
            raise MllpConnectError(f"{self.address} reset the connection mid-reply", sent=True) from exc
        except OSError as exc:
            self._close()
            raise MllpConnectError(f"reading from {self.address} failed: {exc}", sent=True) from exc

    def _fail_at_eof(self) -> None:
        decoder, had_garbage = self._decoder, self._garbage_seen
        self._close()
        try:
            decoder.finish()
        except MllpFrameError as exc:
            raise MllpProtocolError(f"{self.address}: {exc}", sent=True) from exc
        if had_garbage:
            raise MllpProtocolError(f"{self.address} sent bytes outside any MLLP frame and closed "
                                    "the connection without a reply", sent=True)
        raise MllpConnectError(f"{self.address} closed the connection without a reply", sent=True)

    def _report_garbage(self) -> None:
        for run in self._decoder.pop_garbage():
            if run.strip():  # stray CR/LF between frames is common and harmless
                self._garbage_seen = True
                # Sizes only: the bytes may carry PHI.
                log.warning("MLLP %s: %d bytes outside any frame ignored", self.address, len(run))

    def _close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None


class _PeerWasGone(Exception):
    """Internal: the connection was dead before the peer could read the message."""

