"""The sandbox REST EHR's webhooks as a receiver sees them over real sockets: every change, by
the API or by staff, is a signed thin event, delivered in order; failures (5xx, refused
connections) are retried with a doubling backoff while later events wait; a receiver's 4xx is
retried a few times and set aside; subscriptions and staff edits refuse bad input."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

pytestmark = pytest.mark.live

SECRET = "a-shared-secret-of-some-length"


class Receiver:
    """A webhook endpoint on loopback that answers from a script of statuses (then 200)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[tuple[float, dict, str, bytes]] = []
        self.script: list[int] = []
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", port, self._app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_data()
        with self._lock:
            status = self.script.pop(0) if self.script else 200
            self.received.append((time.monotonic(), json.loads(body), request.headers["X-Sandbox-Signature"],
                                  body))
        return Response("{}", status=status)

    def types(self) -> list[str]:
        return [event["type"] for _t, event, _s, _b in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    hook = Receiver()
    yield hook
    hook.stop()


def _subscribe(rest_ehr, url: str, **settings) -> str:
    answer = requests.post(f"{rest_ehr.url}/_sandbox/webhooks", json={
        "url": url, "secret": SECRET, "retry_base": 0.05, "retry_max": 0.4, **settings}, timeout=5)
    assert answer.status_code == 201, answer.text
    assert SECRET not in answer.text
    return answer.json()["id"]


def _state(rest_ehr, subscription: str) -> dict:
    return requests.get(f"{rest_ehr.url}/_sandbox/webhooks/{subscription}", timeout=5).json()


def _settle(rest_ehr, subscription: str, done: int, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _state(rest_ehr, subscription)
        if state["pending"] == 0 and state["delivered"] + len(state["failed"]) >= done:
            return state
        time.sleep(0.03)
    raise AssertionError(_state(rest_ehr, subscription))


def _staff(rest_ehr, method: str, path: str, body=None):
    return requests.request(method, f"{rest_ehr.url}/_sandbox/records/{path}", json=body, timeout=5)


def _verified(signature: str, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in signature.split(","))
    expected = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 60


PATIENT = {"chart_number": "MRN-1", "first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1815-12-10"}


def test_every_change_is_a_signed_thin_event_in_order(rest_ehr, vendor, receiver):
    subscription = _subscribe(rest_ehr, receiver.url)
    pid = vendor.post("patients", PATIENT).body["id"]
    vendor.request("PATCH", f"patients/{pid}", json={"phone_home": "555"})
    appointment = vendor.post("appointments", {"patient_id": pid, "start_time": "2026-12-01T15:00:00+00:00"}).body
    vendor.put(f"appointments/{appointment['id']}", dict(appointment, status="cancelled"))
    assert _staff(rest_ehr, "PATCH", f"patients/{pid}", {"city": "London"}).status_code == 200
    assert _staff(rest_ehr, "POST", "appointments", {"patient_id": pid, "start_time": "2026-12-02T15:00:00+00:00"}).status_code == 201
    vendor.delete(f"patients/{pid}")
    _settle(rest_ehr, subscription, 7)
    assert receiver.types() == ["patient.created", "patient.updated", "appointment.booked",
                                "appointment.cancelled", "patient.updated", "appointment.booked",
                                "patient.deleted"]
    events = [event for _t, event, _s, _b in receiver.received]
    assert [e["origin"]["client_id"] for e in events] == ["sandbox-client"] * 4 + [None, None, "sandbox-client"]
    assert events[0]["resource"] == {"type": "patient", "id": pid}
    assert set(events[0]) == {"id", "type", "occurred_at", "resource", "origin"}  # thin: no PHI
    assert len({e["id"] for e in events}) == 7
    assert all(_verified(signature, body) for _t, _e, signature, body in receiver.received)


def test_failed_deliveries_are_retried_with_backoff_and_later_events_wait(rest_ehr, vendor, receiver):
    receiver.script = [503, 500, 502]
    subscription = _subscribe(rest_ehr, receiver.url)
    first = vendor.post("patients", PATIENT).body["id"]
    second = vendor.post("patients", dict(PATIENT, chart_number="MRN-2")).body["id"]
    state = _settle(rest_ehr, subscription, 2)
    assert state["delivered"] == 2 and state["attempts"] == 5 and state["failed"] == []
    ids = [event["resource"]["id"] for _t, event, _s, _b in receiver.received]
    assert ids == [first, first, first, first, second]
    times = [t for t, *_ in receiver.received[:4]]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09 and gaps[2] >= 0.18  # 0.05, 0.1, 0.2 s
    log = requests.get(f"{rest_ehr.url}/_sandbox/webhooks/{subscription}/deliveries", timeout=5).json()
    assert [entry["status"] for entry in log] == [503, 500, 502, 200, 200]


def test_a_refused_connection_is_retried_until_the_receiver_is_up(rest_ehr, vendor):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subscription = _subscribe(rest_ehr, f"http://127.0.0.1:{port}/hook")
    vendor.post("patients", PATIENT)
    time.sleep(0.3)
    assert _state(rest_ehr, subscription)["pending"] == 1
    late = Receiver(port)
    try:
        assert _settle(rest_ehr, subscription, 1)["delivered"] == 1
        assert late.types() == ["patient.created"]
    finally:
        late.stop()


def test_a_receivers_4xx_is_set_aside_after_a_few_tries(rest_ehr, vendor, receiver):
    receiver.script = [422, 422, 422, 503, 503]
    subscription = _subscribe(rest_ehr, receiver.url, client_error_attempts=3, max_attempts=2)
    vendor.post("patients", PATIENT)
    vendor.post("patients", dict(PATIENT, chart_number="MRN-2"))
    vendor.post("patients", dict(PATIENT, chart_number="MRN-3"))
    state = _settle(rest_ehr, subscription, 3)
    assert [(f["attempts"], f["last_status"]) for f in state["failed"]] == [(3, 422), (2, 503)]
    assert state["delivered"] == 1 and receiver.types().count("patient.created") == 6


def test_subscriptions_filter_by_type_and_can_be_removed(rest_ehr, vendor, receiver):
    subscription = _subscribe(rest_ehr, receiver.url, types=["patient.updated"])
    pid = vendor.post("patients", PATIENT).body["id"]
    _staff(rest_ehr, "PATCH", f"patients/{pid}", {"city": "Paris"})
    _settle(rest_ehr, subscription, 1)
    assert receiver.types() == ["patient.updated"]
    listed = requests.get(f"{rest_ehr.url}/_sandbox/webhooks", timeout=5).json()
    assert [s["id"] for s in listed] == [subscription] and SECRET not in json.dumps(listed)
    assert requests.delete(f"{rest_ehr.url}/_sandbox/webhooks/{subscription}", timeout=5).status_code == 204
    assert requests.get(f"{rest_ehr.url}/_sandbox/webhooks/{subscription}", timeout=5).status_code == 404
    _staff(rest_ehr, "PATCH", f"patients/{pid}", {"city": "Rome"})
    _subscribe(rest_ehr, receiver.url)
    assert requests.post(f"{rest_ehr.url}/_sandbox/reset", timeout=5).status_code == 204
    assert requests.get(f"{rest_ehr.url}/_sandbox/webhooks", timeout=5).json() == []
    time.sleep(0.2)
    assert receiver.types() == ["patient.updated"]


@pytest.mark.parametrize("body, problem", [
    ({"secret": SECRET}, "url must be"),
    ({"url": "ftp://x", "secret": SECRET}, "url must be"),
    ({"url": "http://x", "secret": "short"}, "secret must be"),
    ({"url": "http://x", "secret": SECRET, "types": "patient.updated"}, "types must be"),
    ({"url": "http://x", "secret": SECRET, "retry_base": 0}, "retry_base"),
    ({"url": "http://x", "secret": SECRET, "max_attempts": 1.5}, "max_attempts"),
    ({"url": "http://x", "secret": SECRET, "colour": "red"}, "body must be"),
    ([], "body must be"),
])
def test_a_bad_subscription_is_400(rest_ehr, body, problem):
    answer = requests.post(f"{rest_ehr.url}/_sandbox/webhooks", json=body, timeout=5)
    assert answer.status_code == 400 and problem in answer.json()["error"]["message"]


def test_staff_edits_refuse_bad_input(rest_ehr, vendor):
    assert _staff(rest_ehr, "POST", "invoices", {}).status_code == 404
    assert _staff(rest_ehr, "PATCH", "patients/p-999999", {"city": "X"}).status_code == 404
    assert _staff(rest_ehr, "DELETE", "appointments/a-999999").status_code == 404
    assert _staff(rest_ehr, "POST", "patients", {"first_name": "A"}).status_code == 422
    assert _staff(rest_ehr, "POST", "patients", dict(PATIENT, colour="red")).status_code == 400
    bad_json = requests.post(f"{rest_ehr.url}/_sandbox/records/patients", data=b"{nope", timeout=5,
                             headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert _staff(rest_ehr, "POST", "patients", PATIENT).status_code == 201
    assert _staff(rest_ehr, "POST", "patients", PATIENT).status_code == 409  # chart_number is unique
    assert _staff(rest_ehr, "POST", "appointments", {"patient_id": "p-999999",
                                                      "start_time": "2026-12-01T15:00:00+00:00"}).status_code == 422
    pid = vendor.get("patients").body["data"][0]["id"]
    assert _staff(rest_ehr, "PATCH", f"patients/{pid}", {"sex": "X"}).status_code == 422
    assert _staff(rest_ehr, "PATCH", f"patients/{pid}", [1]).status_code == 400
