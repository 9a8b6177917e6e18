"""HTTPS through gunicorn: TLS 1.0/1.1 handshakes are refused, TLS 1.2/1.3 work, HSTS is sent."""
from __future__ import annotations

import http.client
import json
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


def _mllp_listener(tmp, sqlite_template, *tls_args):
    """`fhir-gateway listen` over TLS for an hl7v2 backend; returns (process, port)."""
    shutil.copyfile(sqlite_template, tmp / "gateway.db")
    config = tmp / "gateway.toml"
    config.write_text('auth = "off"\n[[backends]]\nname = "ehr"\ndialect = "hl7v2"\n'
                      'profile = "hl7v2-generic@2.5.1-1.2.0"\nendpoint = "mllp://127.0.0.1:9"\n'
                      'resources = ["Patient"]\n')
    env = dict(os.environ, GATEWAY_DATABASE_URL=f"sqlite:///{tmp / 'gateway.db'}", GATEWAY_CONFIG=str(config))
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "listen", "--backend", "ehr", "--port", "0",
                             *tls_args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = json.loads(proc.stdout.readline())
    assert ready["listening"].startswith("mllps://"), ready
    return proc, int(ready["listening"].rsplit(":", 1)[1])


A04 = ("MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124080000||ADT^A04^ADT_A01|TLS-1|P|2.5.1\r"
       "EVN|A04|20261124080000\rPID|1||MRN-7001^^^CLINIC^MR||Okoye^Ada||19850302|F\r")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_mllp_listener_over_tls_with_client_certificates(tmp_path, sqlite_template):
    from gateway.transports.mllp import MllpClient
    from gateway.transports.tls import client_context
    server_cert, server_key = write_dev_cert(tmp_path / "server")
    client_cert, client_key = write_dev_cert(tmp_path / "client", hostname="ehr-sender")
    proc, port = _mllp_listener(tmp_path, sqlite_template, "--certfile", str(server_cert), "--keyfile",
                                str(server_key), "--client-ca", str(client_cert), "--require-client-cert")
    try:
        trusted = client_context(str(server_cert), certfile=str(client_cert), keyfile=str(client_key))
        sender = MllpClient("127.0.0.1", port, ssl_context=trusted, server_hostname="localhost", read_timeout=20)
        reply = sender.send(A04)
        sender.close()
        assert "MSA|AA|TLS-1" in reply
        # no client certificate: the handshake (or the first read) fails, nothing is ACKed
        anonymous = MllpClient("127.0.0.1", port, ssl_context=client_context(str(server_cert)),
                               server_hostname="localhost", read_timeout=5)
        with pytest.raises(Exception):
            anonymous.send(A04.replace("TLS-1", "TLS-2"))
        anonymous.close()
        # TLS 1.1 is refused by the listener too
        old = _client_context(server_cert, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1)
        with pytest.raises((ssl.SSLError, OSError)):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with old.wrap_socket(raw, server_hostname="localhost"):
                    pass
    finally:
        proc.terminate()
        proc.wait(timeout=15)
