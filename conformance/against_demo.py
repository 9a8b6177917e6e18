"""`make conformance`: start the demo stack on a free port, run the toolkit against it, stop it.

May import: stdlib, joserfc, conformance.runner. Exit code 1 when any check fails. Reports are
written to reports/conformance/ (JUnit XML and Markdown). The demo prints one JSON line once
ready (`fhir_base`, `token`, `env`); under that env, the `fhir-gateway` commands register what
the SMART checks need, as a deployment's administrator would: a staff user who signs in at the
login form, a public app for the launch, and a Backend Services client with an ES384 key. The
demo is stopped with SIGTERM whatever happens.
"""
from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from conformance.runner import run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


REDIRECT = "http://127.0.0.1:9/conformance-callback"  # never followed: the runner reads the Location


def _cli(env: dict, *args: str, stdin: str | None = None) -> dict:
    done = subprocess.run([sys.executable, "-m", "gateway.cli", *args], input=stdin, capture_output=True,
                          text=True, env=dict(os.environ, **env), timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"fhir-gateway {' '.join(args[:2])} failed: {done.stderr[-500:]}")
    return json.loads(done.stdout)


def _smart_parties(env: dict, data: Path) -> dict:
    """Register the staff user, the public launch app and the backend client; the run options."""
    from joserfc.jwk import ECKey
    password = secrets.token_urlsafe(18)
    username = f"conformance-{secrets.token_hex(3)}"
    # integration_admin: its ceiling holds patient/*.rs, so every scope the checks ask for is grantable
    _cli(env, "users", "add", username, "--role", "integration_admin", "--name", "Conformance Runner",
         "--password-stdin", stdin=password + "\n")
    app = _cli(env, "clients", "add", "conformance-launch", "--public", "--redirect-uri", REDIRECT, "--role",
               "integration_admin", "--scope", "launch", "launch/patient", "openid", "fhirUser", "offline_access",
               "online_access", "patient/*.rs")
    key = ECKey.generate_key("P-384", parameters={"kid": secrets.token_hex(8), "alg": "ES384", "use": "sig"})
    (data / "backend-jwks.json").write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    (data / "backend-key.json").write_text(json.dumps(key.as_dict(private=True)))
    backend = _cli(env, "clients", "add", "conformance-backend", "--jwks", str(data / "backend-jwks.json"),
                   "--role", "integration_admin", "--scope", "system/*.rs")
    return {"launch_client_id": app["client_id"], "redirect_uri": REDIRECT, "username": username,
            "password": password, "backend_client_id": backend["client_id"],
            "backend_key": str(data / "backend-key.json")}


def main() -> int:
    data = Path("var/conformance-demo")
    shutil.rmtree(data, ignore_errors=True)
    demo = subprocess.Popen([sys.executable, "-m", "gateway.cli", "demo", "--port", str(_free_port()),
                             "--data-dir", str(data)], stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([demo.stdout], [], [], 120)
        if not ready:
            print("the demo stack did not start within 120 s", file=sys.stderr)
            return 2
        info = json.loads(demo.stdout.readline())
        client = json.loads((data / "demo-client.json").read_text())
        smart = _smart_parties(info.get("env", {}), data)
        report = run(info["fhir_base"], info.get("token"), client_id=client["client_id"],
                     client_secret=client["client_secret"], **smart)
        print(report.summary())
        junit, markdown = report.write(Path("reports/conformance"))
        print(f"reports: {junit}, {markdown}", file=sys.stderr)
        return 1 if report.failures else 0
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
