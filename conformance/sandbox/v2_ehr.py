"""The sandbox HL7 v2 EHR: an MLLP listener and an HTTP control API over one SQLite store.

May import: stdlib, gateway.transports and the sibling sandbox modules.
`V2Ehr(host, mllp_port=0, http_port=0, data_dir=None).start()`; then `.mllp_port`,
`.mllp_url` ("mllp://host:port"), `.http_url`, `.inbox_url`; `.stop()` closes both servers.
TLS: pass an ssl.SSLContext (see gateway.transports.tls.server_context) as `ssl_context`.
"""
from __future__ import annotations

import ssl
from pathlib import Path

from conformance.sandbox.faults import FaultPlan
from conformance.sandbox.http_thread import WsgiThread
from conformance.sandbox.v2_control import create_control_app
from conformance.sandbox.v2_handler import V2_FAULT_MODES, V2Handler
from conformance.sandbox.v2_store import V2Store
from gateway.transports.mllp_server import MllpServer


class V2Ehr:
    """The whole v2 sandbox; usable as a context manager."""

    def __init__(self, host: str = "127.0.0.1", mllp_port: int = 0, http_port: int = 0,
                 data_dir: str | Path | None = None, *, ssl_context: ssl.SSLContext | None = None,
                 idle_timeout: float = 300.0) -> None:
        self.host = host
        self.store = V2Store(Path(data_dir) / "v2_ehr.sqlite3" if data_dir else None)
        self.faults = FaultPlan(V2_FAULT_MODES)
        self.handler = V2Handler(self.store, self.faults)
        self.mllp = MllpServer(host, mllp_port, self.handler, ssl_context=ssl_context,
                               idle_timeout=idle_timeout)
        self._http_port = http_port
        self.http: WsgiThread | None = None

    def start(self) -> "V2Ehr":
        self.mllp.start()
        try:
            app = create_control_app(self.store, self.faults)
            self.http = WsgiThread(app, self.host, self._http_port, name="sandbox-v2-http").start()
        except Exception:
            self.mllp.stop()
            raise
        return self

    def stop(self) -> None:
        if self.http is not None:
            self.http.stop()
            self.http = None
        self.mllp.stop()
        self.store.close()

    @property
    def mllp_port(self) -> int:
        return self.mllp.port

    @property
    def mllp_url(self) -> str:
        return f"mllp://{self.host}:{self.mllp_port}"

    @property
    def http_url(self) -> str:
        return self.http.url

    @property
    def inbox_url(self) -> str:
        return f"{self.http_url}/inbox"

    def __enter__(self) -> "V2Ehr":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
