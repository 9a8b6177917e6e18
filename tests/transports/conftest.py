"""Fixtures for the transport tests: a throw-away CA with server and client certificates
(made with `cryptography`, EC keys so it is fast), and a free loopback port with no listener."""
from __future__ import annotations

import datetime
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca: str  # a CA that signed nothing here: trusting only it must fail


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool, usage=None, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert=None, key=None) -> str:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(path)


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, other_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test CA", ca_key, _name("Test CA"), ca_key, ca=True)
    other = _certificate("Other CA", other_key, _name("Other CA"), other_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = _certificate("localhost", server_key, ca.subject, ca_key, ca=False,
                          usage=ExtendedKeyUsageOID.SERVER_AUTH, san=san)
    client = _certificate("gateway", client_key, ca.subject, ca_key, ca=False,
                          usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(ca=_write(folder / "ca.pem", ca), server_cert=_write(folder / "server.pem", server),
               server_key=_write(folder / "server.key", key=server_key),
               client_cert=_write(folder / "client.pem", client),
               client_key=_write(folder / "client.key", key=client_key),
               other_ca=_write(folder / "other.pem", other))


@pytest.fixture
def closed_port() -> int:
    """A loopback port that nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def rest_ehr():
    """The sandbox REST EHR as the vendor peer (a real HTTP server on loopback)."""
    from conformance.sandbox.rest_ehr import RestEhr
    with RestEhr("127.0.0.1", 0) as ehr:
        yield ehr
