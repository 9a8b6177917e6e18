"""Benchmark: Patient read / search / create through the gateway vs. a bare Flask endpoint.

Both run under gunicorn with the same settings (sync workers) on loopback; the same load
generator drives both in one run, and the figures are reported as ratios (never asserted).
Usage: python loadtests/bench_rest.py [--seconds 8] [--concurrency 4] [--workers 2] [--patients 1000]
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "api"))
from fhir_data import patient  # noqa: E402  (realistic ~1 KB Patient)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str) -> None:
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _client(args) -> tuple[int, list[float]]:
    port, method, path, body, seconds = args
    latencies, end = [], time.perf_counter() + seconds
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    while time.perf_counter() < end:
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status >= 300 and response.status != 201:
            raise RuntimeError(f"{method} {path}: {response.status}")
        latencies.append(time.perf_counter() - start)
    return len(latencies), latencies


def load(port: int, method: str, path: str, body: bytes | None, seconds: float, concurrency: int) -> dict:
    with mp.Pool(concurrency) as pool:
        results = pool.map(_client, [(port, method, path, body, seconds)] * concurrency)
    latencies = sorted(l for _, ls in results for l in ls)
    count = len(latencies)
    return {"rps": count / seconds, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(count * 0.99) - 1]}


def _seed(config: Path, patients: int) -> tuple[str, str]:
    from gateway.app import create_app
    from gateway.settings import load_settings
    app = create_app(load_settings(environ={"GATEWAY_CONFIG": str(config)}))
    client = app.test_client()
    first = None
    for i in range(patients):
        body = patient(name=[{"family": f"Family{i % 100:03d}", "given": [f"Given{i}"]}],
                       identifier=[{"system": "urn:bench", "value": f"B{i}"}])
        created = client.post("/fhir/Patient", json=body, headers={"Content-Type": "application/fhir+json"})
        first = first or created.get_json()["id"]
    read = client.get(f"/fhir/Patient/{first}").get_data(as_text=True)
    search = client.get("/fhir/Patient?family=Family007&_count=10").get_data(as_text=True)
    app.extensions["fhir_gateway"].db.dispose()
    return first, json.dumps({"read": read, "search": search})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patients", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    config = tmp / "gateway.toml"
    config.write_text(f'data_dir = "{tmp}"\nauth = "off"\nlog_level = "WARNING"\n')
    env = dict(os.environ, GATEWAY_CONFIG=str(config), BENCH_BODIES=str(tmp / "bodies.json"))
    from gateway.store.migrate import upgrade
    upgrade(f"sqlite:///{tmp / 'gateway.db'}")
    first, bodies = _seed(config, args.patients)
    (tmp / "bodies.json").write_text(bodies)
    gw_port, bare_port = _port(), _port()
    gunicorn = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--worker-class",
                "sync", "--log-level", "warning"]
    procs = [subprocess.Popen(gunicorn + ["--bind", f"127.0.0.1:{gw_port}", "wsgi:app"], cwd=ROOT, env=env),
             subprocess.Popen(gunicorn + ["--bind", f"127.0.0.1:{bare_port}", "bare_app:app"],
                              cwd=ROOT / "loadtests", env=env)]
    try:
        _wait(f"http://127.0.0.1:{gw_port}/healthz")
        _wait(f"http://127.0.0.1:{bare_port}/fhir/Patient/x")
        create_body = json.dumps(patient()).encode()
        scenarios = [("read", "GET", f"/fhir/Patient/{first}", None, 0.60),
                     ("search", "GET", "/fhir/Patient?family=Family007&_count=10", None, 0.30),
                     ("create", "POST", "/fhir/Patient", create_body, 0.08)]
        print(f"{'scenario':8} {'bare rps':>9} {'gw rps':>8} {'ratio':>6} {'goal':>5} "
              f"{'gw p50':>7} {'gw p99':>7} {'p99/p50':>7}")
        for name, method, path, body, goal in scenarios:
            bare = load(bare_port, method, path, body, args.seconds, args.concurrency)
            gw = load(gw_port, method, path, body, args.seconds, args.concurrency)
            ratio = gw["rps"] / bare["rps"]
            print(f"{name:8} {bare['rps']:9.0f} {gw['rps']:8.0f} {ratio:6.0%} {goal:5.0%} "
                  f"{gw['p50_ms']:6.1f}ms {gw['p99_ms']:6.1f}ms {gw['p99_ms'] / gw['p50_ms']:7.1f}",
                  flush=True)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


if __name__ == "__main__":
    main()
