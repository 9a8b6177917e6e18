"""A threaded MLLP listener: frames the stream, calls a handler per message, writes its reply.

May import: stdlib (socketserver, socket, ssl, threading) and the sibling framing module.
Used by the sandbox v2 EHR and by the gateway's inbound listener. A handler gets the payload
bytes of one frame and returns the reply payload (framed here), a RawReply (sent as it is: for
fault injection), or None (close the connection without answering). A connection that sends a
broken frame is logged and closed; a failing handler closes its connection, never the server.
"""
from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass
from typing import Callable, Union

from gateway.transports.mllp_errors import MllpFrameError
from gateway.transports.mllp_framing import DEFAULT_MAX_FRAME, FrameDecoder, frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawReply:
    """Bytes to write unframed, then optionally close: lets a test peer misbehave on purpose."""

    data: bytes
    close: bool = True


Reply = Union[bytes, RawReply, None]
Handler = Callable[[bytes], Reply]


class _Connection(socketserver.BaseRequestHandler):
    server: "_TcpServer"

    def handle(self) -> None:
        owner = self.server.owner
        sock = self.request
        try:
            if owner.ssl_context is not None:
                sock.settimeout(owner.handshake_timeout)
                sock = owner.ssl_context.wrap_socket(sock, server_side=True)
            sock.settimeout(owner.idle_timeout)
        except (OSError, ssl.SSLError) as exc:
            log.warning("MLLP listener: TLS handshake with %s failed: %s", self.client_address[0], exc)
            return
        owner._track(sock, add=True)
        try:
            self._serve(owner, sock)
        finally:
            owner._track(sock, add=False)
            _close_quietly(sock)

    def _serve(self, owner: "MllpServer", sock: socket.socket) -> None:
        decoder = FrameDecoder(owner.max_frame)
        while True:
            try:
                chunk = sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return  # idle connection: close it
            except OSError:
                return
            if not chunk:
                self._at_eof(decoder)
                return
            try:
                payloads = decoder.feed(chunk)
            except MllpFrameError as exc:
                log.warning("MLLP listener: %s from %s; closing", exc, self.client_address[0])
                return
            for run in decoder.pop_garbage():
                if run.strip():  # sizes only: the bytes may carry PHI
                    log.warning("MLLP listener: %d bytes outside any frame from %s ignored",
                                len(run), self.client_address[0])
            for payload in payloads:
                if not self._answer(owner, sock, payload):
                    return

    def _answer(self, owner: "MllpServer", sock: socket.socket, payload: bytes) -> bool:
        """Run the handler on one message; False when the connection must be closed."""
        try:
            reply = owner.handler(payload)
        except Exception:  # a handler bug must not take the listener down
            log.exception("MLLP listener: handler failed; closing the connection")
            return False
        try:
            if reply is None:
                return False
            if isinstance(reply, RawReply):
                sock.sendall(reply.data)
                return not reply.close
            sock.sendall(frame(reply))
            return True
        except OSError:
            return False

    def _at_eof(self, decoder: FrameDecoder) -> None:
        try:
            decoder.finish()
        except MllpFrameError as exc:
            log.warning("MLLP listener: %s from %s", exc, self.client_address[0])


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    owner: "MllpServer"


class MllpServer:
    """`MllpServer(host, port, handler, ssl_context=...)`; `start()` binds and serves in a
    thread (port 0 picks a free port, see `.port`), `stop()` closes the listener and every
    open connection. For TLS with client certificates give a context whose verify_mode is
    CERT_REQUIRED and whose CA store holds the accepted client CAs (see transports.tls)."""

    def __init__(self, host: str, port: int, handler: Handler, *,
                 ssl_context: ssl.SSLContext | None = None, idle_timeout: float = 300.0,
                 handshake_timeout: float = 10.0, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.host, self.requested_port, self.handler = host, port, handler
        self.ssl_context, self.idle_timeout = ssl_context, idle_timeout
        self.handshake_timeout, self.max_frame = handshake_timeout, max_frame
        self.connections_accepted = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server: _TcpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("MllpServer is not started")
        return self._server.server_address[1]

    def start(self) -> "MllpServer":
        server = _TcpServer((self.host, self.requested_port), _Connection)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name=f"mllp-{self.host}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        shutdown_promptly(self._server)
        self._server.server_close()
        with self._lock:
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(timeout=5)
        self._server = None

    def _track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self.connections_accepted += 1
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def __enter__(self) -> "MllpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def shutdown_promptly(server: socketserver.BaseServer) -> None:
    """`server.shutdown()` without waiting out the poll interval: while shutdown waits, poke
    the listening socket so serve_forever wakes at once and sees the request to stop."""
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    stopper.start()
    host, port = server.server_address[:2]
    while stopper.is_alive():
        try:
            socket.create_connection((host, port), timeout=0.2).close()
        except OSError:
            pass
        stopper.join(0.01)


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
