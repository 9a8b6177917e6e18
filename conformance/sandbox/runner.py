"""Start and stop both sandbox EHRs on loopback; `run_sandboxes` blocks for the CLI.

May import: stdlib and the sibling sandbox modules.
"""
from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from conformance.sandbox.rest_auth import RestConfig
from conformance.sandbox.rest_ehr import RestEhr
from conformance.sandbox.v2_ehr import V2Ehr


@dataclass
class Sandboxes:
    """The two running sandboxes; `info()` is the JSON-able ready information."""

    v2: V2Ehr
    rest: RestEhr

    def info(self) -> dict:
        config = self.rest.state.config
        return {"sandbox_v2_mllp": self.v2.mllp_url, "sandbox_v2_mllp_host": self.v2.host,
                "sandbox_v2_mllp_port": self.v2.mllp_port, "sandbox_v2_http": self.v2.http_url,
                "sandbox_v2_inbox": self.v2.inbox_url, "sandbox_rest": self.rest.api_url,
                "sandbox_rest_token_url": self.rest.token_url,
                "sandbox_rest_requests": f"{self.rest.url}/_sandbox/requests",
                "sandbox_rest_records": f"{self.rest.url}/_sandbox/records",
                "sandbox_rest_webhooks": f"{self.rest.url}/_sandbox/webhooks",
                "sandbox_rest_client_id": config.client_id,
                "sandbox_rest_client_secret": config.client_secret}

    def stop(self) -> None:
        self.rest.stop()
        self.v2.stop()


def start_sandboxes(host: str = "127.0.0.1", mllp_port: int = 0, v2_http_port: int = 0,
                    rest_port: int = 0, data_dir: str | Path | None = None,
                    rest_config: RestConfig | None = None) -> Sandboxes:
    """Start both sandboxes (port 0 = a free port); stop them with `.stop()`.
    With `data_dir`, each keeps its SQLite file there; without, they live in memory."""
    v2 = V2Ehr(host, mllp_port, v2_http_port, data_dir).start()
    try:
        rest = RestEhr(host, rest_port, data_dir, rest_config).start()
    except Exception:
        v2.stop()
        raise
    return Sandboxes(v2, rest)


def run_sandboxes(host: str, mllp_port: int, v2_http_port: int, rest_port: int,
                  data_dir: str | Path | None, ready_callback: Callable[[dict], None],
                  rest_config: RestConfig | None = None) -> int:
    """Start both, call `ready_callback(info)`, block until SIGTERM or SIGINT, stop cleanly.
    Must run in the main thread (signal handlers). Returns the exit status (0)."""
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    sandboxes = start_sandboxes(host, mllp_port, v2_http_port, rest_port, data_dir, rest_config)
    try:
        ready_callback(sandboxes.info())
        while not stopping.wait(0.5):
            pass
    finally:
        sandboxes.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
