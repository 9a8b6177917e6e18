"""HTTPS through gunicorn: TLS 1.0/1.1 handshakes are refused, TLS 1.2/1.3 work, HSTS is sent."""
from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

import pytest

from gateway.devcert import write_dev_cert

pytestmark = [pytest.mark.live, pytest.mark.slow]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def https_server(tmp_path_factory, sqlite_template):
    # TLS is the transport's business, not the store's: one SQLite-backed server for the module.
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = write_dev_cert(tmp / "tls")
    shutil.copyfile(sqlite_template, tmp / "gateway.db")
    port = _port()
    env = dict(os.environ, GATEWAY_DATABASE_URL=f"sqlite:///{tmp / 'gateway.db'}", GATEWAY_AUTH="off")
    env.pop("GATEWAY_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port),
                             "--workers", "1", "--certfile", str(cert), "--keyfile", str(key)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield port, cert
    proc.terminate()
    proc.wait(timeout=15)


def _client_context(cert, low, high) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(cert))
    context.minimum_version, context.maximum_version = low, high
    context.set_ciphers("ALL:@SECLEVEL=0")  # the client is willing: any refusal is the server's
    return context


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["tls1.0", "tls1.1"])
def test_old_tls_is_refused(https_server, version):
    port, cert = https_server
    context = _client_context(cert, version, version)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            context.wrap_socket(raw, server_hostname="localhost").do_handshake()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"])
def test_modern_tls_works_and_sends_hsts(https_server, version):
    port, cert = https_server
    context = _client_context(cert, version, version)
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    connection.request("GET", "/fhir/metadata", headers={"Host": "localhost"})
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Strict-Transport-Security").startswith("max-age=")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
