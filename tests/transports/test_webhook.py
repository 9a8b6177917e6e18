"""The webhook sender over real loopback sockets: any 2xx is delivered, other statuses and
transport failures are named (status or exception class, never a body), redirects are not
followed, Retry-After is read, and timeouts apply."""
from __future__ import annotations

import socket
import threading

from gateway.transports.webhook import WebhookSender


def test_statuses_headers_and_bodies(webhook_receiver):
    sender = WebhookSender()
    sent = sender.send("PUT", webhook_receiver.url + "/Patient/1?x=1", {"X-Key": "k"}, b"{}")
    assert (sent.ok, sent.status, sent.error) == (True, 200, None)
    [got] = webhook_receiver.wait_for(1)
    assert got["path"] == "/hook/Patient/1?x=1" and got["headers"]["X-Key"] == "k" and got["body"] == b"{}"
    webhook_receiver.status = 204
    assert sender.send("POST", webhook_receiver.url, {}, None).ok
    webhook_receiver.status, webhook_receiver.headers = 429, {"Retry-After": "17"}
    sent = sender.send("POST", webhook_receiver.url, {}, None)
    assert (sent.ok, sent.error, sent.retry_after) == (False, "HTTP 429", 17.0)
    sender.close()


def test_a_redirect_is_a_failure_and_is_not_followed(webhook_receiver):
    webhook_receiver.status, webhook_receiver.headers = 307, {"Location": "http://127.0.0.1:9/elsewhere"}
    sent = WebhookSender().send("PUT", webhook_receiver.url, {"Authorization": "Bearer s"}, b"{}")
    assert (sent.ok, sent.error) == (False, "HTTP 307")
    assert len(webhook_receiver.requests) == 1


def test_refused_and_timed_out():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert WebhookSender().send("POST", f"http://127.0.0.1:{port}/", {}, None).error == "ConnectionError"
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers
    held = []
    threading.Thread(target=lambda: held.append(silent.accept()), daemon=True).start()
    sent = WebhookSender(timeout=(1.0, 0.3)).send("POST", f"http://127.0.0.1:{silent.getsockname()[1]}/", {}, None)
    assert (sent.ok, sent.status, sent.error) == (False, None, "ReadTimeout")
    silent.close()
