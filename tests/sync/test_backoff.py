"""Backoff with full jitter: ceilings double up to the cap, draws stay inside them, hints win."""
import random

import pytest

from gateway.sync.backoff import RetryPolicy


def test_ceiling_doubles_then_caps():
    policy = RetryPolicy(base_seconds=2, cap_seconds=30, max_attempts=10)
    assert [policy.ceiling(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


def test_delays_are_jittered_within_the_ceiling_and_reproducible():
    policy = RetryPolicy(base_seconds=1, cap_seconds=64)
    draws = [policy.delay(5, random.Random(seed)) for seed in range(200)]
    assert all(0 <= d <= 16 for d in draws)
    assert len({round(d, 6) for d in draws}) > 150  # spread, not one value
    assert max(draws) > 12 and min(draws) < 4
    assert policy.delay(5, random.Random(7)) == policy.delay(5, random.Random(7))


def test_exhausted_counts_every_try():
    policy = RetryPolicy(max_attempts=3)
    assert [policy.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]
    assert RetryPolicy(max_attempts=1).exhausted(1)


def test_backend_hint_wins_when_longer_but_never_past_the_cap():
    policy = RetryPolicy(base_seconds=1, cap_seconds=60)
    assert policy.retry_after(1, 45, random.Random(1)) == 45
    assert policy.retry_after(1, 3600, random.Random(1)) == 60
    assert policy.retry_after(6, 0.001, random.Random(1)) <= 32


def test_huge_attempt_numbers_do_not_overflow():
    assert RetryPolicy(cap_seconds=600).ceiling(10_000) == 600


@pytest.mark.parametrize("kwargs", [dict(base_seconds=0), dict(base_seconds=10, cap_seconds=5),
                                    dict(max_attempts=0)])
def test_bad_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_attempt_is_one_based():
    with pytest.raises(ValueError):
        RetryPolicy().ceiling(0)
