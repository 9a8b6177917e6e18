"""Fixtures for the operations tests: the rate-limit storage, in memory and in Redis.

Redis runs when GATEWAY_TEST_REDIS_URL is set (CI sets redis://127.0.0.1:6379/15). Each test
gets a key prefix of its own, so parallel runs sharing that database never see each other's
counters, and its keys are deleted afterwards.
"""
from __future__ import annotations

import os
import uuid

import pytest


def redis_url() -> str:
    return os.environ.get("GATEWAY_TEST_REDIS_URL", "")


def _storage_params():
    params = [pytest.param("memory", id="memory")]
    if redis_url():
        params.append(pytest.param("redis", id="redis"))
    return params


@pytest.fixture(params=_storage_params())
def limit_settings(request) -> dict:
    """Settings overrides selecting the storage, with a unique key prefix."""
    prefix = f"gw-test-{uuid.uuid4().hex[:12]}"
    if request.param == "memory":
        yield {"rate_limit_storage": "memory://", "rate_limit_prefix": prefix}
        return
    import redis
    yield {"rate_limit_storage": redis_url(), "rate_limit_prefix": prefix}
    connection = redis.Redis.from_url(redis_url())
    keys = list(connection.scan_iter(f"*{prefix}*"))
    if keys:
        connection.delete(*keys)
    connection.close()
