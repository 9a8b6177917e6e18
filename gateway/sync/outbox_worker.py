"""The outbox worker loop: deliver due rows until stopped, sleeping while there is nothing due.

May import: stdlib. The work itself (claim with a lease, render, send, record; backoff and
dead letters) is gateway.services.outbox_delivery.OutboxDeliverer, passed in as `deliver_due`,
so this loop holds only the process concerns: who it is (the lease holder name), pacing, and
stopping cleanly between rows on SIGTERM. Any number of workers may run (one per host is
usual); leases keep them from sending a row twice or out of order.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Callable, Protocol

log = logging.getLogger("gateway.sync.outbox")


class Round(Protocol):
    tried: int
    lag_seconds: list[tuple[str, float]]

    def as_dict(self) -> dict: ...


def holder_name() -> str:
    """A lease holder name unique to this process (host, pid and a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:128]


class OutboxWorker:
    def __init__(self, deliver_due: Callable[[str], Round], interval_seconds: float,
                 observe: Callable[[Round], None] = lambda _round: None,
                 holder: str | None = None) -> None:
        self.deliver_due, self.interval, self.observe = deliver_due, interval_seconds, observe
        self.holder = holder or holder_name()

    def run_once(self) -> Round:
        done = self.deliver_due(self.holder)
        self.observe(done)
        if done.tried:
            log.info("outbox pass: %s", done.as_dict())  # counts only, never data
        return done

    def serve(self, stop: threading.Event) -> None:
        """Loop until `stop` is set; a pass that delivered something is followed at once by
        the next (the backend's next row is due now), an idle or failing one by a pause."""
        while not stop.is_set():
            try:
                done = self.run_once()
            except Exception as exc:  # noqa: BLE001 - the database may be restarting; go on
                log.error("outbox pass failed (%s); retrying", type(exc).__name__)
                stop.wait(max(self.interval, 1.0))
                continue
            if not done.tried or not getattr(done, "delivered", 0):
                stop.wait(self.interval)
