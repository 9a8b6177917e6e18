"""`fhir-gateway demo`: the whole embedded stack on loopback, seeded, in the foreground.

May import: gateway.app, gateway.settings, gateway.store.migrate, gateway.seed, stdlib.
Starts the sandbox EHRs, the gateway (gunicorn), the inbound MLLP listener, the scheduler, the
outbox worker and the Subscription notifier as child processes, seeds demo data through the
API's own transaction path, subscribes the gateway's webhook endpoint to the REST sandbox's
events (with a secret generated for this run), prints ONE line of JSON when ready, and stops
every child on Ctrl-C / SIGTERM. Child processes are started as `python -m gateway.cli ...`, so the demo works
from a virtualenv without the console script on PATH.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from gateway.seed import demo_bundle


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _write_config(data_dir: Path, host: str, port: int, sandbox: dict, webhook_secret: str) -> Path:
    config = data_dir / "gateway.toml"
    config.write_text(
        "# Written by `fhir-gateway demo`: SMART auth is on; the ready line carries a token.\n"
        f'data_dir = "{data_dir}"\n'
        f'database_url = "sqlite:///{data_dir / "gateway.db"}"\n'
        f'base_url = "http://{host}:{port}/fhir"\n'
        'auth = "on"\n'
        # a sandbox people click through and the conformance run drives hard: roomier OAuth
        # budget than the production default (30/minute per address), same mechanism
        'rate_limit_token = "600/minute"\n\n'
        "# Patient and Appointment writes go to the sandbox HL7 v2 EHR (ADT^A04/A08 and SIU^S12/\n"
        "# S14/S15/S26 over MLLP); Coverage goes to the sandbox REST EHR (intake JSON: the\n"
        "# insurance fields of the beneficiary's record, registered there by MRN on first use),\n"
        "# which also answers insurance eligibility checks (CoverageEligibilityRequest, profile\n"
        "# 1.4.0); DocumentReference and Binary stay in the gateway's own store. Changes made in\n"
        "# the REST EHR come back as signed webhook events to /ingest/ehr-rest/events (webhook_secret).\n"
        "[[backends]]\n"
        'name = "ehr-v2"\n'
        'dialect = "hl7v2"\n'
        'profile = "hl7v2-generic@2.5.1-1.2.0"\n'
        f'endpoint = "{sandbox["sandbox_v2_mllp"]}"\n'
        'resources = ["Patient", "Appointment"]\n'
        '[backends.options]\n'
        'assigning_authority = "DEMO"\n'
        'mrn_system = "urn:oid:1.2.36.146.595.217.0.1"\n'
        'read_timeout = 10\n\n'
        "[[backends]]\n"
        'name = "ehr-rest"\n'
        'dialect = "rest"\n'
        'profile = "sandbox-rest-intake@1.4.0"\n'
        f'endpoint = "{sandbox["sandbox_rest"]}"\n'
        'resources = ["Coverage"]\n'
        '[backends.options]\n'
        f'token_url = "{sandbox["sandbox_rest_token_url"]}"\n'
        f'client_id = "{sandbox["sandbox_rest_client_id"]}"\n'
        f'client_secret = "{sandbox["sandbox_rest_client_secret"]}"\n'
        'mrn_system = "urn:oid:1.2.36.146.595.217.0.1"\n'
        'read_timeout = 10\n'
        f'webhook_secret = "{webhook_secret}"\n', encoding="utf-8")
    config.chmod(0o600)  # it holds the sandbox's client secret and the webhook secret
    return config


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=log.open("ab"), text=True,
                            start_new_session=True)


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def _start_sandboxes(host: str, data_dir: Path, env: dict) -> tuple[subprocess.Popen, dict]:
    args = ["sandbox", "--host", host, "--mllp-port", str(free_port(host)),
            "--v2-http-port", str(free_port(host)), "--rest-port", str(free_port(host)),
            "--data-dir", str(data_dir / "sandbox")]
    proc = _start(args, env, data_dir / "sandbox.log")
    line = proc.stdout.readline()  # the sandbox prints one JSON line when it is listening
    if not line:
        raise RuntimeError(f"sandbox EHRs did not start; see {data_dir / 'sandbox.log'}")
    return proc, json.loads(line)


def _seed(config: Path, token: str) -> int:
    """Seed through the API itself, one entry at a time in bundle order (each Patient is an
    ADT^A04 to the v2 sandbox, the Appointment an SIU^S12, the Coverage a write to the REST
    sandbox, and a transaction may carry only one backend-owned write); urn:uuid references
    are rewritten to the ids the earlier entries got."""
    from gateway.app import create_app
    from gateway.settings import load_settings
    app = create_app(load_settings(environ={"GATEWAY_CONFIG": str(config)}))
    client = app.test_client()
    headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {token}"}
    ids: dict[str, str] = {}
    for entry in demo_bundle()["entry"]:
        text = json.dumps(entry["resource"])
        for urn, reference in ids.items():
            text = text.replace(f'"{urn}"', f'"{reference}"')
        rtype = entry["resource"]["resourceType"]
        response = client.post(f"/fhir/{rtype}", data=text,
                               headers=dict(headers, **{"If-None-Exist": entry["request"]["ifNoneExist"]}))
        if response.status_code not in (200, 201):
            raise RuntimeError(f"seeding a {rtype} failed: {response.status_code} "
                               f"{response.get_data(as_text=True)[:300]}")
        ids[entry["fullUrl"]] = f"{rtype}/{response.get_json()['id']}"
    app.extensions["fhir_gateway"].db.dispose()
    return len(ids)


def _demo_token(config: Path, base: str) -> tuple[str, dict]:
    """A token of the demo integration_admin client (registered once, kept in the data dir)."""
    from gateway.app import create_app
    from gateway.settings import load_settings
    app = create_app(load_settings(environ={"GATEWAY_CONFIG": str(config)}))
    auth = app.extensions["fhir_gateway"].auth
    saved = config.with_name("demo-client.json")
    if saved.exists():
        client = json.loads(saved.read_text())
    else:
        client = auth.add_client("demo-admin", "system/*.cruds", "integration_admin")
        saved.write_text(json.dumps(client))
        saved.chmod(0o600)
    token = auth.client_credentials(client["client_id"], client["client_secret"], None, base)
    app.extensions["fhir_gateway"].db.dispose()
    return token["access_token"], client


def _subscribe(webhooks_url: str, ingest_url: str, secret: str) -> None:
    """Subscribe the gateway's ingest endpoint to the REST sandbox's events (as an operator
    would paste the URL and secret into a vendor's developer console)."""
    body = json.dumps({"url": ingest_url, "secret": secret}).encode()
    request = urllib.request.Request(webhooks_url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 201:
            raise RuntimeError(f"the REST sandbox refused the webhook subscription: {response.status}")


def run_demo(port: int, data_dir: str, host: str = "127.0.0.1") -> int:
    from gateway.store.migrate import upgrade
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    children: list[subprocess.Popen] = []
    stopping = {"now": False}

    def stop(*_args) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        sandbox, sandbox_info = _start_sandboxes(host, root, dict(os.environ))
        children.append(sandbox)
        webhook_secret = secrets.token_urlsafe(32)
        config = _write_config(root, host, port, sandbox_info, webhook_secret)
        # one /metrics over both gunicorn workers and the listener (prometheus multiprocess mode)
        metrics_dir = root / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env = dict(os.environ, GATEWAY_CONFIG=str(config), PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        env.pop("GATEWAY_DATABASE_URL", None)
        upgrade(f"sqlite:///{root / 'gateway.db'}")
        base = f"http://{host}:{port}/fhir"
        token, client = _demo_token(config, base)
        seeded = _seed(config, token)
        gateway = _start(["serve", "--host", host, "--port", str(port), "--workers", "2"], env,
                         root / "gateway.log")
        children.append(gateway)
        listen_port = free_port(host)
        listener = _start(["listen", "--backend", "ehr-v2", "--host", host, "--port", str(listen_port)],
                          env, root / "listener.log")
        children.append(listener)
        if not listener.stdout.readline():  # it prints one JSON line once it listens
            raise RuntimeError(f"the inbound listener did not start; see {root / 'listener.log'}")
        scheduler = _start(["scheduler"], env, root / "scheduler.log")
        children.append(scheduler)
        if not scheduler.stdout.readline():  # it prints one JSON line once it runs
            raise RuntimeError(f"the scheduler did not start; see {root / 'scheduler.log'}")
        worker = _start(["worker"], env, root / "worker.log")  # delivers what a backend could not take at once
        children.append(worker)
        if not worker.stdout.readline():  # it prints one JSON line once it runs
            raise RuntimeError(f"the outbox worker did not start; see {root / 'worker.log'}")
        notifier = _start(["notifier"], env, root / "notifier.log")  # Subscription rest-hooks
        children.append(notifier)
        if not notifier.stdout.readline():  # it prints one JSON line once it runs
            raise RuntimeError(f"the notifier did not start; see {root / 'notifier.log'}")
        _wait_ready(f"http://{host}:{port}/readyz", gateway)
        ingest_url = f"http://{host}:{port}/ingest/ehr-rest/events"
        _subscribe(sandbox_info["sandbox_rest_webhooks"], ingest_url, webhook_secret)
        ready = {
            "fhir_base": f"http://{host}:{port}/fhir",
            "token": token,
            "token_expires_in": 3600,
            "client_id": client["client_id"],
            "token_endpoint": f"http://{host}:{port}/oauth/token",
            "auth": "on",
            "warning": "Demo data only: do not put real patient data in it. The demo client's "
                       "secret is in demo-client.json in the data dir (get new tokens with it).",
            "env": {"GATEWAY_CONFIG": str(config)},
            "seeded_entries": seeded,
            "inbound_listener": f"mllp://{host}:{listen_port}",
            "scheduler": "housekeeping jobs (`fhir-gateway jobs list` under env)",
            "outbox_worker": "delivers queued writes (`fhir-gateway outbox list` under env; "
                             "GET /admin/outbox with the token)",
            "notifier": "Subscription rest-hooks (`fhir-gateway subscriptions list` under env)",
            "inbound_webhooks": ingest_url,
            "owners": {"Patient, Appointment": "ehr-v2 (HL7 v2.5.1 sandbox over MLLP, "
                                               "profile hl7v2-generic@2.5.1-1.2.0)",
                       "Coverage, CoverageEligibilityRequest/Response": "ehr-rest (sandbox REST EHR, "
                                   "intake JSON over OAuth2, profile sandbox-rest-intake@1.4.0; "
                                   "eligibility checks are asked of it at once and kept locally)",
                       "DocumentReference, Binary, AuditEvent": "local store"},
            "logs": str(root),
            **{k: v for k, v in sandbox_info.items() if k.startswith("sandbox")},
        }
        print(json.dumps(ready), flush=True)
        while not stopping["now"]:
            for child in children:
                if child.poll() is not None:
                    print(json.dumps({"error": f"child {child.args[3]} exited with {child.returncode}"}),
                          file=sys.stderr, flush=True)
                    return 1
            time.sleep(0.3)
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
