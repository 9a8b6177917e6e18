"""Fixtures for the sandbox EHR tests: each sandbox on loopback (fresh per test) and clients
that talk to them over real sockets."""
from __future__ import annotations

import pytest

from conformance.sandbox.rest_ehr import RestEhr
from conformance.sandbox.v2_ehr import V2Ehr
from gateway.transports.http import OAuth2ClientCredentials, VendorHttpClient
from gateway.transports.mllp import MllpClient


@pytest.fixture
def v2_ehr(tmp_path):
    with V2Ehr("127.0.0.1", 0, 0, tmp_path) as ehr:
        yield ehr


@pytest.fixture
def mllp(v2_ehr):
    with MllpClient("127.0.0.1", v2_ehr.mllp_port, connect_timeout=2, read_timeout=2) as client:
        yield client


@pytest.fixture
def rest_ehr(tmp_path):
    with RestEhr("127.0.0.1", 0, tmp_path) as ehr:
        yield ehr


@pytest.fixture
def vendor(rest_ehr):
    auth = OAuth2ClientCredentials(rest_ehr.token_url, "sandbox-client", "sandbox-secret")
    with VendorHttpClient(rest_ehr.api_url, auth=auth, timeout=(2, 2)) as client:
        yield client
