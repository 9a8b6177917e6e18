"""Fixtures for the runner tests: the gateway on a real socket with a client for the SMART
checks, and a way to serve a deliberately broken FHIR server."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server


@pytest.fixture
def gateway(live_gateway):
    """(FHIR base, token, client) for the real gateway (tests/conftest.py live_gateway, auth on)."""
    base, app = live_gateway
    auth = app.extensions["fhir_gateway"].auth
    client = auth.add_client("conformance", "system/*.cruds", "integration_admin")
    token = auth.issue(client["client_id"], "integration_admin", "system/*.cruds", base)["access_token"]
    return base, token, client


@pytest.fixture
def serve():
    """serve(flask_app) -> root URL on a loopback socket; every server is shut down afterwards."""
    servers = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"
    yield start
    for server in servers:
        server.shutdown()
