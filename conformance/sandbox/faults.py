"""Fault injection plans shared by both sandboxes: "misbehave like this for the next n calls".

May import: stdlib only. Thread-safe: the MLLP and HTTP servers take faults from many threads.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Fault:
    """One armed fault: its mode, the calls it still applies to, a delay and a text."""

    mode: str
    count: int
    delay: float
    text: str

    def to_json(self) -> dict:
        return asdict(self)


class FaultPlan:
    """Holds at most one armed fault; `take()` consumes one use of it."""

    def __init__(self, modes: tuple[str, ...], default_delay: float = 2.0) -> None:
        self.modes, self.default_delay = modes, default_delay
        self._fault: Fault | None = None
        self._lock = threading.Lock()

    def arm_from_json(self, body: object) -> Fault:
        """Validate a JSON body {"mode", "count", "delay", "text"}; ValueError names the problem."""
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(body) - {"mode", "count", "delay", "text"}
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        mode = body.get("mode")
        if mode not in self.modes:
            raise ValueError(f"mode must be one of {list(self.modes)}")
        count, delay = body.get("count", 1), body.get("delay", self.default_delay)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be an integer >= 1")
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not 0 <= delay <= 300:
            raise ValueError("delay must be a number of seconds between 0 and 300")
        text = body.get("text", "")
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        fault = Fault(mode, count, float(delay), text)
        with self._lock:
            self._fault = fault
        return fault

    def clear(self) -> None:
        with self._lock:
            self._fault = None

    def current(self) -> Fault | None:
        with self._lock:
            return self._fault

    def take(self) -> Fault | None:
        """The armed fault for this call (one use consumed), or None."""
        with self._lock:
            fault = self._fault
            if fault is None:
                return None
            remaining = fault.count - 1
            self._fault = Fault(fault.mode, remaining, fault.delay, fault.text) if remaining else None
            return fault
