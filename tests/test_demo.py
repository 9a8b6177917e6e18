"""`fhir-gateway demo` end to end: ready line, seeded data served over a real socket, clean stop."""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytestmark = [pytest.mark.live, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str | None = None) -> dict:
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _post_json(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


def _send(url: str, resource: dict, token: str, method: str):
    request = urllib.request.Request(url, data=json.dumps(resource).encode(), method=method, headers={
        "Content-Type": "application/fhir+json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=20) as response:
        response.read()
        return response


def _port_open(url: str) -> bool:
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


def test_demo_starts_seeds_serves_and_stops(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "demo", "--port", str(port),
                             "--data-dir", str(tmp_path / "demo")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 90)
        assert ready, "demo printed no ready line within 90 s"
        line = proc.stdout.readline()
        info = json.loads(line)
        base = info["fhir_base"]
        assert base == f"http://127.0.0.1:{port}/fhir"
        assert os.path.exists(info["env"]["GATEWAY_CONFIG"])
        assert info["auth"] == "on" and info["token"]
        token = info["token"]
        assert _get(f"{base}/metadata")["resourceType"] == "CapabilityStatement"
        try:
            _get(f"{base}/Patient?family=Rivera")
            raise AssertionError("a search without a token must be refused")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        found = _get(f"{base}/Patient?family=Rivera", token)
        assert found["total"] == 1
        assert found["entry"][0]["resource"]["name"][0]["given"][0] == "Ana"
        # the seeded Coverage is in force: an eligibility check through the REST sandbox says so
        rivera = found["entry"][0]["resource"]["id"]
        [cov] = _get(f"{base}/Coverage?beneficiary=Patient/{rivera}", token)["entry"]
        check = {"resourceType": "CoverageEligibilityRequest", "status": "active", "purpose": ["validation"],
                 "patient": {"reference": f"Patient/{rivera}"}, "created": "2026-12-01T08:55:00-06:00",
                 "insurer": {"display": "Acme Health Plan"},
                 "insurance": [{"coverage": {"reference": f"Coverage/{cov['resource']['id']}"}}]}
        asked = urllib.request.Request(f"{base}/CoverageEligibilityRequest", data=json.dumps(check).encode(),
                                       method="POST", headers={"Authorization": f"Bearer {token}",
                                                               "Content-Type": "application/fhir+json"})
        with urllib.request.urlopen(asked, timeout=20) as response:
            assert response.status == 201
            answer = _get(response.headers["Link"][1:].split(">")[0], token)
        assert answer["outcome"] == "complete" and answer["insurance"][0]["inforce"] is True
        for key in ("sandbox_rest", "sandbox_v2_inbox"):
            assert info[key].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(info["sandbox_v2_inbox"], timeout=10) as response:
            inbox = json.loads(response.read())
        a04 = [m for m in inbox if m["type"].startswith("ADT^A04")]
        assert len(a04) == 3 and any("Rivera^Ana" in m["raw"] for m in a04)
        assert any(m["type"].startswith("SIU^S12") for m in inbox)  # the seeded Appointment
        # the EHR's own feed reaches the gateway through the inbound listener
        host, port = info["inbound_listener"].split("//")[1].split(":")
        adt = ("MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124080000||ADT^A04^ADT_A01|DEMO-IN-1|P|2.5.1\r"
               "PID|1||MRN-FEED-1^^^DEMO^MR||Feedley^Fran||19900101|F\r")
        body = json.dumps({"host": host, "port": int(port), "message": [adt]}).encode()
        feed_url = info["sandbox_v2_inbox"].replace("/inbox", "/feed")
        request = urllib.request.Request(feed_url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=20) as response:
            assert "AA" in response.read().decode()
        assert _get(f"{base}/Patient?family=Feedley", token)["total"] == 1
        # a staff edit in the REST EHR comes back as a signed webhook event, fetched and merged
        assert info["inbound_webhooks"] == base.replace("/fhir", "/ingest/ehr-rest/events")
        with urllib.request.urlopen(info["sandbox_rest_records"], timeout=10) as response:
            registered = json.loads(response.read())["patients"][0]  # by the seeded Coverage
        mirror = _get(f"{base}/Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|{registered['chart_number']}",
                      token)["entry"][0]["resource"]
        request = urllib.request.Request(f"{info['sandbox_rest_records']}/patients/{registered['id']}",
                                         data=json.dumps({"phone_mobile": "555-0177"}).encode(), method="PATCH",
                                         headers={"Content-Type": "application/json"})
        started = time.monotonic()
        urllib.request.urlopen(request, timeout=10).read()
        while not any(t.get("value") == "555-0177" for t in _get(f"{base}/Patient/{mirror['id']}", token)
                      .get("telecom", [])):
            assert time.monotonic() - started < 5, "the REST EHR's edit did not reach the gateway"
            time.sleep(0.05)
        assert time.monotonic() - started < 2
        audit = _get(f"{base}/AuditEvent?entity=Patient/{found['entry'][0]['resource']['id']}", token)
        assert audit["total"] >= 1  # the demo token's client is integration_admin: sees the trail
        # the scheduler child runs the housekeeping jobs; `jobs list` under the printed env sees them
        jobs = {}
        for _ in range(40):
            listed = subprocess.run([sys.executable, "-m", "gateway.cli", "jobs", "list"],
                                    env=dict(env, **info["env"]), capture_output=True, text=True,
                                    timeout=60)
            assert listed.returncode == 0, listed.stderr
            jobs = {j["name"]: j for j in json.loads(listed.stdout)["jobs"]}
            if all(j["runs"] >= 1 for j in jobs.values()):
                break
            time.sleep(0.5)
        assert set(jobs) >= {"auth-housekeeping", "audit-drain", "audit-verify", "db-analyze"}
        assert all(j["runs"] >= 1 and j["last_outcome"] == "ok" for j in jobs.values()), jobs
        # the EHR misses a write: it is stored and queued, and the demo's worker delivers it
        _post_json(info["sandbox_v2_inbox"].replace("/inbox", "/faults"), {"mode": "drop", "count": 1})
        rivera = found["entry"][0]["resource"]
        changed = dict(rivera, birthDate="1985-03-15")
        answer = _send(f"{base}/Patient/{rivera['id']}", changed, token, "PUT")
        assert answer.headers["X-Delivery-Status"].startswith("queued"), answer.headers
        row = int(answer.headers["X-Delivery-Status"].rsplit("outbox=", 1)[1])
        admin_url = base.replace("/fhir", f"/admin/outbox/{row}")
        for _ in range(60):
            if _get(admin_url, token)["status"] == "delivered":
                break
            time.sleep(0.5)
        assert _get(admin_url, token)["status"] == "delivered"
        with urllib.request.urlopen(info["sandbox_v2_inbox"], timeout=10) as response:
            assert any("|19850315|" in m["raw"] and m["ack_code"] == "AA" for m in json.loads(response.read()))
        urls = [base, info["sandbox_rest"], info["sandbox_v2_inbox"], f"http://{host}:{port}/"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert not any(_port_open(u) for u in urls), "a demo child process is still listening"
    # No PHI in the gateway's own logs (HIPAA 164.312(b) audit is in the AuditEvent table, not logs)
    logs = "".join((tmp_path / "demo" / name).read_text(errors="replace")
                   for name in ("gateway.log", "listener.log", "scheduler.log", "worker.log"))
    logs += proc.stderr.read()
    for phi in ("Rivera", "Okafor", "Nguyen", "Feedley", "1985-03-14", "19850314", "1972-11-02",
                "MRN-DEMO-1", "MRN-FEED-1", "Main St", "555 0101"):
        assert phi not in logs, f"PHI {phi!r} found in the logs"
