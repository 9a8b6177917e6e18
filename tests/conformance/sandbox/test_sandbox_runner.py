"""Starting both sandboxes: in-process for tests, and blocking until a signal for the CLI."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sandbox_messages import adt

from conformance.sandbox.runner import start_sandboxes
from gateway.transports.mllp import MllpClient, classify_ack

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[3]


def _port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


def test_start_sandboxes_reports_working_urls_and_stops(tmp_path):
    sandboxes = start_sandboxes("127.0.0.1", data_dir=tmp_path)
    info = sandboxes.info()
    try:
        assert info["sandbox_v2_mllp"] == f"mllp://127.0.0.1:{info['sandbox_v2_mllp_port']}"
        with MllpClient("127.0.0.1", info["sandbox_v2_mllp_port"], read_timeout=2) as client:
            assert classify_ack(client.send(adt("A04", "RUN1", "M1"))).delivered
        assert requests.get(info["sandbox_v2_inbox"], timeout=5).json()[0]["control_id"] == "RUN1"
        token = requests.post(info["sandbox_rest_token_url"], data={"grant_type": "client_credentials"},
                              auth=(info["sandbox_rest_client_id"], info["sandbox_rest_client_secret"]),
                              timeout=5).json()["access_token"]
        listing = requests.get(f"{info['sandbox_rest']}/patients", timeout=5,
                               headers={"Authorization": f"Bearer {token}"})
        assert listing.json()["total"] == 0
    finally:
        sandboxes.stop()
    assert (tmp_path / "v2_ehr.sqlite3").exists() and (tmp_path / "rest_ehr.sqlite3").exists()
    rest_port = int(info["sandbox_rest"].split(":")[2].split("/")[0])
    assert _port_closed(info["sandbox_v2_mllp_port"]) and _port_closed(rest_port)


def test_run_sandboxes_blocks_until_sigterm():
    code = ("import json; from conformance.sandbox.runner import run_sandboxes; "
            "raise SystemExit(run_sandboxes('127.0.0.1', 0, 0, 0, None, "
            "lambda info: print(json.dumps(info), flush=True)))")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(process.stdout.readline())
        assert requests.get(info["sandbox_v2_inbox"], timeout=5).json() == []
        assert process.poll() is None  # still serving
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert _port_closed(info["sandbox_v2_mllp_port"])
