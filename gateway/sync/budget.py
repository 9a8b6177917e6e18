"""Backend budgets: how many requests each EHR may receive, from its `options.rate_limit`.

May import: gateway.delivery, gateway.settings, limits, stdlib. An EHR interface engine often
allows only so many messages a second; sending more gets them dropped or the interface
suspended. A budget is a moving window (exact: never more than N in any window) kept in the
rate-limit storage the inbound limits use, so with Redis all workers share one budget. A spent
budget raises BackendThrottled *before* anything is sent: the write is answered 503 with
Retry-After and never reported as delivered.
"""
from __future__ import annotations

import math
import time
from typing import Iterable

from limits import RateLimitItem, parse_many
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter

from gateway.delivery import DeliveryUnavailable
from gateway.settings import BackendSettings


class BackendThrottled(DeliveryUnavailable):
    """The backend's budget is spent for now: nothing was sent."""


class BackendBudgets:
    """One moving-window budget per backend that declares `options.rate_limit`."""

    def __init__(self, backends: Iterable[BackendSettings], storage: Storage, prefix: str) -> None:
        # The strings were checked by settings (same grammar as parse_many).
        self.limits: dict[str, list[RateLimitItem]] = {
            b.name: parse_many(str(b.options["rate_limit"]))
            for b in backends if b.options.get("rate_limit")}
        self.window = MovingWindowRateLimiter(storage)
        self.prefix = prefix

    def __bool__(self) -> bool:
        return bool(self.limits)

    def spend(self, backend: str) -> None:
        """Take one request from the backend's budget, or raise BackendThrottled."""
        for item in self.limits.get(backend, ()):
            if not self.window.hit(item, self.prefix, "backend", backend):
                reset_at, _remaining = self.window.get_window_stats(item, self.prefix, "backend", backend)
                wait = max(1, math.ceil(reset_at - time.time()))
                raise BackendThrottled(backend, f"its rate limit ({item}) is spent; nothing was sent",
                                       retry_after=wait)
