"""`make conformance`: start the demo stack on a free port, run the toolkit against it, stop it.

May import: stdlib, conformance.runner. Exit code 1 when any check fails. Reports are written
to reports/conformance/ (JUnit XML and Markdown). The demo prints one JSON line once ready
(`fhir_base`, `token`); it is stopped with SIGTERM whatever happens.
"""
from __future__ import annotations

import json
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
        report = run(info["fhir_base"], info.get("token"), client_id=client["client_id"],
                     client_secret=client["client_secret"])
        print(report.summary())
        junit, markdown = report.write(Path("reports/conformance"))
        print(f"reports: {junit}, {markdown}", file=sys.stderr)
        return 1 if report.failures else 0
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
