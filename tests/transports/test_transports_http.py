"""VendorHttpClient over real HTTP against the sandbox REST EHR: OAuth2 client credentials,
the single token refresh, typed errors, timeouts, API-key auth."""
from __future__ import annotations

import email.utils
import logging
import time

import pytest
import requests

from gateway.transports.http import (ApiKeyAuth, HttpRateLimited, HttpRefused, HttpUnavailable,
                                     OAuth2ClientCredentials, VendorHttpClient)
from gateway.transports.http_errors import retry_after_seconds

pytestmark = pytest.mark.live

PATIENT = {"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1815-12-10"}


def _client(ehr, *, secret="sandbox-secret", method="client_secret_basic", timeout=(2.0, 2.0),
            leeway=30) -> VendorHttpClient:
    auth = OAuth2ClientCredentials(ehr.token_url, "sandbox-client", secret, auth_method=method,
                                   leeway=leeway)
    return VendorHttpClient(ehr.api_url, auth=auth, timeout=timeout)


def _sandbox(ehr, method: str, path: str, json=None) -> requests.Response:
    return requests.request(method, f"{ehr.url}/_sandbox/{path}", json=json, timeout=5)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_token_is_fetched_once_and_reused(rest_ehr, method):
    with _client(rest_ehr, method=method) as client:
        created = client.post("patients", PATIENT)
        assert created.status == 201 and created.location.endswith(f"/patients/{created.body['id']}")
        assert client.get(f"patients/{created.body['id']}").body["last_name"] == "Lovelace"
        assert client.token_fetches == 1


def test_wrong_client_secret_is_refused_with_the_oauth_error(rest_ehr):
    with pytest.raises(HttpRefused) as caught:
        _client(rest_ehr, secret="wrong").get("patients")
    assert (caught.value.status, caught.value.code) == (401, "invalid_client")


def test_a_401_on_a_cached_token_fetches_a_new_token_once(rest_ehr):
    with _client(rest_ehr) as client:
        client.get("patients")
        assert _sandbox(rest_ehr, "DELETE", "tokens").status_code == 204
        assert client.get("patients").status == 200
        assert client.token_fetches == 2


def test_an_expired_token_is_renewed_before_the_request(rest_ehr):
    _sandbox(rest_ehr, "POST", "config", {"token_ttl": 2})
    with _client(rest_ehr, leeway=5) as client:  # leeway > ttl: the token counts as expired
        client.get("patients")
        client.get("patients")
        # fetched once, then renewed by authlib before each of the two requests
        assert client.token_fetches == 3


def test_401_with_a_bad_bearer_token(rest_ehr):
    response = requests.get(f"{rest_ehr.api_url}/patients",
                            headers={"Authorization": "Bearer not-a-token"}, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_rate_limit_answers_429_and_retry_after(rest_ehr):
    _sandbox(rest_ehr, "POST", "config", {"rate_limit": 2, "rate_window": 30})
    with _client(rest_ehr) as client:
        client.get("patients")
        client.get("patients")
        with pytest.raises(HttpRateLimited) as caught:
            client.get("patients")
    assert caught.value.status == 429 and 1 <= caught.value.retry_after <= 30
    assert isinstance(caught.value, HttpUnavailable)


@pytest.mark.parametrize("fault,error,status", [("500", HttpUnavailable, 500),
                                                ("429", HttpRateLimited, 429)])
def test_injected_faults_map_to_typed_errors(rest_ehr, fault, error, status):
    with _client(rest_ehr) as client:
        client.get("patients")  # token first, so the fault hits the API call
        _sandbox(rest_ehr, "POST", "faults", {"mode": fault, "count": 1, "delay": 7})
        with pytest.raises(error) as caught:
            client.post("patients", PATIENT)
        assert caught.value.status == status and caught.value.sent is True
        if fault == "429":
            assert caught.value.retry_after == 7
        assert client.post("patients", PATIENT).status == 201  # the fault was for one call


def test_read_timeout_is_unavailable_and_marked_sent(rest_ehr):
    with _client(rest_ehr, timeout=(2.0, 0.3)) as client:
        client.get("patients")
        _sandbox(rest_ehr, "POST", "faults", {"mode": "timeout", "count": 1, "delay": 0.8})
        started = time.monotonic()
        with pytest.raises(HttpUnavailable, match="timed out") as caught:
            client.get("patients")
        assert caught.value.sent is True and time.monotonic() - started < 0.75


def test_connect_refused_is_unavailable_and_not_sent(closed_port):
    auth = OAuth2ClientCredentials(f"http://127.0.0.1:{closed_port}/oauth/token", "c", "s")
    with pytest.raises(HttpUnavailable) as caught:
        VendorHttpClient(f"http://127.0.0.1:{closed_port}/api", auth=auth, timeout=1).get("x")
    assert caught.value.sent is False and caught.value.status is None


def test_refusal_carries_the_vendor_code_and_message(rest_ehr):
    with _client(rest_ehr) as client, pytest.raises(HttpRefused) as caught:
        client.post("patients", {**PATIENT, "favourite_colour": "blue"})
    assert (caught.value.status, caught.value.code) == (400, "unknown_field")
    assert "favourite_colour" in caught.value.vendor_message


def test_api_key_auth_warns_once_without_phi(rest_ehr, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.transports.http")
    client = VendorHttpClient(rest_ehr.api_url, auth=ApiKeyAuth("k3y"), timeout=2)
    with pytest.raises(HttpRefused) as caught:  # the sandbox wants OAuth2, so 401
        client.get("patients", params={"last_name": "Lovelace"})
    with pytest.raises(HttpRefused):
        client.get("patients", params={"last_name": "Lovelace"})
    assert caught.value.status == 401
    warnings = [r.getMessage() for r in caplog.records if "API-key" in r.getMessage()]
    assert len(warnings) == 1 and "SMART/OAuth2" in warnings[0]
    assert "Lovelace" not in caplog.text and "k3y" not in caplog.text
    assert client.token_fetches == 0


def test_urls_outside_the_base_are_refused(rest_ehr):
    with _client(rest_ehr) as client, pytest.raises(ValueError):
        client.get("http://example.org/api/v1/patients")


def test_retry_after_as_seconds_or_http_date():
    assert retry_after_seconds("12") == 12.0
    when = email.utils.formatdate(1_000_060, usegmt=True)
    assert retry_after_seconds(when, now=1_000_000) == 60.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None



def test_a_401_is_retried_once_with_a_new_token_and_never_loops():
    """A vendor whose API refuses every token: the client asks for one new token, once."""
    from flask import Flask, jsonify

    from conformance.sandbox.http_thread import WsgiThread
    calls = {"token": 0, "api": 0}
    app = Flask("always401")

    @app.post("/token")
    def token():
        calls["token"] += 1
        return jsonify(access_token=f"t{calls['token']}", token_type="Bearer", expires_in=3600)

    @app.get("/api/thing")
    def thing():
        calls["api"] += 1
        return jsonify(error={"code": "invalid_token", "message": "no"}), 401

    server = WsgiThread(app, "127.0.0.1", 0).start()
    try:
        auth = OAuth2ClientCredentials(f"{server.url}/token", "c", "s")
        with VendorHttpClient(f"{server.url}/api", auth=auth, timeout=2) as client:
            client.fetch_token()  # a cached token, as after an earlier call
            with pytest.raises(HttpRefused) as caught:
                client.get("thing")
            assert caught.value.status == 401 and caught.value.code == "invalid_token"
            assert calls == {"token": 2, "api": 2}
            with pytest.raises(HttpRefused):
                VendorHttpClient(f"{server.url}/api", auth=auth, timeout=2).get("thing")
            assert calls == {"token": 3, "api": 3}  # fresh token for this call: no retry
    finally:
        server.stop()
