"""Serve a WSGI app from a background thread with werkzeug's threaded server.

May import: stdlib, werkzeug, and gateway.transports.mllp_server (for its prompt
shutdown). Request lines are not logged (the sandboxes keep their own
request logs, and the terminal stays readable).
"""
from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from gateway.transports.mllp_server import shutdown_promptly


class _QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connection, as with a vendor

    def log_request(self, *args, **kwargs) -> None:
        pass


class WsgiThread:
    """`WsgiThread(app, host, port).start()`; `.port` is the bound port (port 0 = any free)."""

    def __init__(self, app, host: str, port: int, name: str = "wsgi") -> None:
        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self.host, self.name = host, name
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "WsgiThread":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.5},
                                        name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        shutdown_promptly(self._server)
        self._server.server_close()
        self._thread.join(timeout=5)
        self._thread = None
