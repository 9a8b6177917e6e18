"""MllpClient and MllpServer over real loopback sockets: reuse, reconnect, timeouts, broken
replies, TLS with client certificates."""
from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

from gateway.transports.mllp import (MllpClient, MllpConnectError, MllpProtocolError,
                                     MllpServer, MllpTimeout, RawReply, classify_ack)
from gateway.transports.tls import client_context, server_context

pytestmark = pytest.mark.live

MESSAGE = "MSH|^~\\&|GW|F|EHR|F|20240101||ADT^A04^ADT_A01|{cid}|P|2.5.1\rPID|1||42^^^H^MR||Ünïcødé^Zoë\r"


def _ack(payload: bytes) -> bytes:
    """Echo-style AA: MSA-2 is the message's MSH-10."""
    control_id = payload.decode("latin-1").split("\r")[0].split("|")[9]
    return f"MSH|^~\\&|EHR|F|GW|F|20240101||ACK^A04^ACK|R-{control_id}|P|2.5.1\rMSA|AA|{control_id}\r".encode()


@pytest.fixture
def ack_server():
    received: list[bytes] = []

    def handler(payload: bytes) -> bytes:
        received.append(payload)
        return _ack(payload)

    with MllpServer("127.0.0.1", 0, handler) as server:
        server.received = received
        yield server


def test_send_returns_the_reply_and_the_connection_is_reused(ack_server):
    with MllpClient("127.0.0.1", ack_server.port, read_timeout=2) as client:
        for n in range(3):
            result = classify_ack(client.send(MESSAGE.format(cid=f"C{n}")), f"C{n}")
            assert result.kind == "delivered"
    assert ack_server.connections_accepted == 1
    assert client.connections_opened == 1
    assert ack_server.received[0].decode("utf-8") == MESSAGE.format(cid="C0")


def test_charset_is_applied_to_the_message_bytes(ack_server):
    with MllpClient("127.0.0.1", ack_server.port, read_timeout=2, charset="latin-1") as client:
        client.send(MESSAGE.format(cid="L1"))
    assert ack_server.received[0] == MESSAGE.format(cid="L1").encode("latin-1")


def test_reconnects_once_when_the_peer_closed_the_idle_connection():
    server = MllpServer("127.0.0.1", 0, _ack, idle_timeout=0.2).start()
    try:
        with MllpClient("127.0.0.1", server.port, read_timeout=2) as client:
            assert classify_ack(client.send(MESSAGE.format(cid="A"))).delivered
            time.sleep(0.5)  # the server closes the idle connection meanwhile
            assert classify_ack(client.send(MESSAGE.format(cid="B"))).delivered
            assert client.connections_opened == 2
        assert server.connections_accepted == 2
    finally:
        server.stop()


def test_connect_refused_is_a_connect_error_not_sent(closed_port):
    with pytest.raises(MllpConnectError) as caught:
        MllpClient("127.0.0.1", closed_port, connect_timeout=1).send(MESSAGE.format(cid="X"))
    assert caught.value.sent is False


def test_slow_reply_is_a_timeout_and_the_late_reply_is_never_read_as_the_next_one():
    def handler(payload: bytes) -> bytes:
        if b"|SLOW|" in payload:
            time.sleep(0.6)
        return _ack(payload)

    with MllpServer("127.0.0.1", 0, handler) as server, \
            MllpClient("127.0.0.1", server.port, read_timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(MllpTimeout) as caught:
            client.send(MESSAGE.format(cid="SLOW"))
        assert caught.value.sent is True and time.monotonic() - started < 0.5
        assert classify_ack(client.send(MESSAGE.format(cid="NEXT")), "NEXT").delivered


def test_peer_closing_without_a_reply_is_a_connect_error_sent():
    with MllpServer("127.0.0.1", 0, lambda payload: None) as server:
        with pytest.raises(MllpConnectError, match="without a reply") as caught:
            MllpClient("127.0.0.1", server.port, read_timeout=2).send(MESSAGE.format(cid="D"))
        assert caught.value.sent is True


@pytest.mark.parametrize("raw,match", [
    (b"NOT MLLP AT ALL", "outside any MLLP frame"),
    (b"\x0bMSH|^~\\&|cut short", "no end block"),
])
def test_garbled_reply_is_a_protocol_error(raw, match):
    with MllpServer("127.0.0.1", 0, lambda payload: RawReply(raw)) as server:
        with pytest.raises(MllpProtocolError, match=match):
            MllpClient("127.0.0.1", server.port, read_timeout=2).send(MESSAGE.format(cid="G"))


def test_oversize_reply_is_a_protocol_error():
    with MllpServer("127.0.0.1", 0, lambda payload: b"x" * 5000) as server:
        client = MllpClient("127.0.0.1", server.port, read_timeout=2, max_frame=1000)
        with pytest.raises(MllpProtocolError, match="larger than 1000"):
            client.send(MESSAGE.format(cid="O"))


def test_garbage_before_the_reply_frame_is_skipped(ack_server):
    with MllpServer("127.0.0.1", 0, lambda p: RawReply(b"\r\nnoise" + b"\x0b" + _ack(p) + b"\x1c\r",
                                                       close=False)) as server:
        reply = MllpClient("127.0.0.1", server.port, read_timeout=2).send(MESSAGE.format(cid="N"))
        assert classify_ack(reply, "N").delivered


def test_server_survives_broken_frames_and_a_failing_handler():
    def handler(payload: bytes) -> bytes:
        if payload == b"boom":
            raise RuntimeError("handler bug")
        return _ack(payload)

    with MllpServer("127.0.0.1", 0, handler, max_frame=100) as server:
        for bad in (b"\x0b" + b"y" * 200, b"\x0bboom\x1c\r", b"\x0btruncated"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
                sock.sendall(bad)
                sock.shutdown(socket.SHUT_WR)
                assert sock.recv(100) == b""  # closed without a reply
        reply = MllpClient("127.0.0.1", server.port, read_timeout=2).send(MESSAGE.format(cid="OK"))
        assert classify_ack(reply, "OK").delivered


def test_stop_closes_open_connections(ack_server):
    client = MllpClient("127.0.0.1", ack_server.port, read_timeout=2)
    client.send(MESSAGE.format(cid="S"))
    ack_server.stop()
    with pytest.raises(MllpConnectError):
        client.send(MESSAGE.format(cid="T"))


# -- TLS ------------------------------------------------------------------------------------

@pytest.fixture
def tls_server(pki):
    context = server_context(pki.server_cert, pki.server_key, client_cafile=pki.ca,
                             require_client_cert=True)
    with MllpServer("127.0.0.1", 0, _ack, ssl_context=context, handshake_timeout=2) as server:
        yield server


def test_mllp_over_tls_with_a_client_certificate(pki, tls_server):
    context = client_context(pki.ca, certfile=pki.client_cert, keyfile=pki.client_key)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    with MllpClient("127.0.0.1", tls_server.port, ssl_context=context, read_timeout=2) as client:
        for cid in ("T1", "T2"):
            assert classify_ack(client.send(MESSAGE.format(cid=cid)), cid).delivered
    assert tls_server.connections_accepted == 1


def test_tls_server_refuses_a_client_without_certificate(pki, tls_server):
    context = client_context(pki.ca)
    with pytest.raises(MllpConnectError):
        MllpClient("127.0.0.1", tls_server.port, ssl_context=context,
                   read_timeout=2).send(MESSAGE.format(cid="NC"))


def test_tls_client_refuses_an_untrusted_server(pki, tls_server):
    context = client_context(pki.other_ca, certfile=pki.client_cert, keyfile=pki.client_key)
    with pytest.raises(MllpConnectError, match="TLS handshake"):
        MllpClient("127.0.0.1", tls_server.port, ssl_context=context).send(MESSAGE.format(cid="U"))


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_client_refuses_a_server_below_tls_1_2(pki):
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    old.load_cert_chain(pki.server_cert, pki.server_key)
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        server = MllpServer("127.0.0.1", 0, _ack, ssl_context=old, handshake_timeout=2).start()
    except ssl.SSLError:
        pytest.skip("this OpenSSL cannot even configure TLS 1.1")
    with server:
        with pytest.raises(MllpConnectError, match="TLS handshake"):
            MllpClient("127.0.0.1", server.port, ssl_context=client_context(pki.ca)).send(
                MESSAGE.format(cid="V"))


def test_client_is_safe_to_share_between_threads(ack_server):
    client = MllpClient("127.0.0.1", ack_server.port, read_timeout=2)
    results: list[bool] = []

    def worker(n: int) -> None:
        for i in range(5):
            cid = f"W{n}-{i}"
            results.append(classify_ack(client.send(MESSAGE.format(cid=cid)), cid).delivered)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert results == [True] * 20 and ack_server.connections_accepted == 1
