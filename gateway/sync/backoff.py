"""Retry timing for deliveries: exponential backoff with full jitter, as a pure function.

May import: stdlib only. No clock and no global random source: the caller passes the attempt
number and a `random.Random`, so a schedule is reproducible in tests and the outbox worker and
the subscription notifier share one policy shape. "Full jitter" (a uniform draw between 0 and
the exponential ceiling) spreads the retries of many rows that failed together, so a backend
coming back up is not hit by all of them in the same second.
"""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a failed delivery is retried before it is dead-lettered.

    `base_seconds` is the ceiling of the first retry, doubled each attempt up to `cap_seconds`;
    `max_attempts` counts every try, the first one included (1 = never retried).
    """

    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.cap_seconds < self.base_seconds:
            raise ValueError("need 0 < base_seconds <= cap_seconds")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def ceiling(self, attempt: int) -> float:
        """The largest delay after failed try number `attempt` (1-based), before jitter."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        # min() before the power would overflow only at absurd attempt counts; cap the exponent.
        return min(self.cap_seconds, self.base_seconds * (2 ** min(attempt - 1, 62)))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed try `attempt`: uniform in [0, ceiling(attempt)]."""
        return rng.uniform(0.0, self.ceiling(attempt))

    def exhausted(self, attempt: int) -> bool:
        """True when try number `attempt` was the last one allowed (dead-letter it)."""
        return attempt >= self.max_attempts

    def retry_after(self, attempt: int, hinted: float | None, rng: random.Random) -> float:
        """The wait after a failure, honouring a backend's own hint (Retry-After, 429) when it
        asks for longer than the jittered delay, never beyond the cap."""
        wait = self.delay(attempt, rng)
        if hinted is not None and hinted > wait:
            wait = min(float(hinted), self.cap_seconds)
        return wait
