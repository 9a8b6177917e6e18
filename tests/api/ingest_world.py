"""Helpers for the webhook ingest tests: the sandbox vendor REST EHR and a live gateway that
owns Patient, Appointment and Coverage there (sandbox-rest-intake@1.3.0) and takes its signed events at
/ingest/vendor/events, all over real loopback sockets."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

from sqlalchemy import create_engine, text

SECRET = "whsec_" + "k3y" * 12  # 42 characters
MRN = "urn:oid:1.2.3"
FHIR_JSON = "application/fhir+json"


def backend_config(vendor, **options) -> dict:
    return {"name": "vendor", "dialect": "rest", "profile": "sandbox-rest-intake@1.3.0",
            "endpoint": vendor.api_url, "resources": ["Patient", "Appointment", "Coverage"],
            "options": {"token_url": vendor.token_url, "client_id": "sandbox-client",
                        "client_secret": "sandbox-secret", "mrn_system": MRN, "connect_timeout": 1,
                        "read_timeout": 2, "webhook_secret": SECRET, **options}}


def http(method: str, url: str, body: bytes | dict | None = None, headers: dict | None = None):
    """(status, parsed JSON body or None, headers) of one request over a real socket."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            raw, status, answer_headers = response.read(), response.status, response.headers
    except urllib.error.HTTPError as exc:
        raw, status, answer_headers = exc.read(), exc.code, exc.headers
    return status, json.loads(raw) if raw else None, answer_headers


def signature(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """Computed here independently of both the sandbox and the gateway."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def event(event_type: str, record_id: str, event_id: str = "evt_test_1", kind: str = "patient",
          origin: str | None = None) -> bytes:
    return json.dumps({"id": event_id, "type": event_type, "occurred_at": "2026-12-06T10:00:00Z",
                       "resource": {"type": kind, "id": record_id},
                       "origin": {"client_id": origin}}).encode()


class World:
    """The sandbox (`vendor`), the live gateway (`base`, `app`) and a token for its FHIR API."""

    def __init__(self, vendor, base: str, app) -> None:
        self.vendor, self.base, self.app = vendor, base, app
        self.root = base.rsplit("/fhir", 1)[0]
        self.ingest = f"{self.root}/ingest/vendor/events"
        auth = app.extensions["fhir_gateway"].auth
        client = auth.add_client("ingest-test", "system/*.cruds", "integration_admin")
        self.token = auth.client_credentials(client["client_id"], client["client_secret"], None, base)["access_token"]
        self.subscription = None

    # -- the sandbox ------------------------------------------------------------------------
    def subscribe(self, url: str | None = None, **settings) -> str:
        body = {"url": url or self.ingest, "secret": SECRET, "retry_base": 0.05, "retry_max": 0.5,
                **settings}
        status, answer, _ = http("POST", f"{self.vendor.url}/_sandbox/webhooks", body)
        assert status == 201, answer
        self.subscription = answer["id"]
        return answer["id"]

    def staff(self, method: str, path: str, body: dict | None = None) -> dict | None:
        status, answer, _ = http(method, f"{self.vendor.url}/_sandbox/records/{path}", body)
        assert status in (200, 201, 204), (status, answer)
        return answer

    def webhook_state(self) -> dict:
        return http("GET", f"{self.vendor.url}/_sandbox/webhooks/{self.subscription}")[1]

    def deliveries(self) -> list[dict]:
        return http("GET", f"{self.vendor.url}/_sandbox/webhooks/{self.subscription}/deliveries")[1]

    def settled(self, delivered: int, timeout: float = 15.0) -> dict:
        """Wait until the sandbox has delivered (or set aside) `delivered` events, none pending."""
        deadline, state = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            state = self.webhook_state()
            if state["pending"] == 0 and state["delivered"] + len(state["failed"]) >= delivered:
                return state
            time.sleep(0.05)
        raise AssertionError(f"webhooks did not settle: {state}")

    def fault(self, **body) -> None:
        assert http("POST", f"{self.vendor.url}/_sandbox/faults", body)[0] == 200

    # -- the gateway ------------------------------------------------------------------------
    def fhir(self, method: str, path: str, body: dict | None = None):
        return http(method, f"{self.base}/{path}", body, {"Authorization": f"Bearer {self.token}",
                                                          "Content-Type": FHIR_JSON})

    def post_event(self, body: bytes, headers: dict | None = None, backend: str = "vendor"):
        return http("POST", f"{self.root}/ingest/{backend}/events", body, headers)

    def signed(self, body: bytes, **kwargs):
        return self.post_event(body, {"X-Sandbox-Signature": signature(body, **kwargs)})

    def rows(self, sql: str, **params) -> list:
        engine = create_engine(self.app.extensions["fhir_gateway"].settings.resolved_database_url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def inbound(self) -> list[tuple]:
        return self.rows("SELECT event_id, message_type, status, detail, resource_ref "
                         "FROM inbound_messages ORDER BY pk")

    def local_id(self, resource_type: str, vendor_id: str) -> str | None:
        found = self.rows("SELECT resource_id FROM backend_ids WHERE backend = 'vendor' AND "
                          "resource_type = :t AND backend_id = :v", t=resource_type, v=vendor_id)
        return found[0][0] if found else None
