"""Benchmark: Patient read / search / create through the gateway vs. a bare Flask endpoint.

Both run under gunicorn with the same settings (sync workers) on loopback; the same load
generator drives both in one run, and the figures are reported as ratios (never asserted).
Usage: python loadtests/bench_rest.py [--seconds 8] [--concurrency 4] [--workers 2] [--patients 1000]
                                      [--auth off|on] [--rate-limit off|on] [--audit-reads journal|inline]
                                      [--scenarios read,search,create] [--rounds 1]
                                      [--create distinct|same]
With --rounds N each scenario alternates bare and gateway N times and reports the medians, which
steadies the ratio on a machine shared with other work.
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


DISTINCT = b"@distinct-patient"  # a create body made anew per request: a different person each time


_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "bre", "dan", "fel", "gor", "hul",
              "jes", "kor", "lin", "mar", "nor", "pet", "ros", "sil", "tam", "vel", "wil")


def _name(n: int, parts: int) -> str:
    """A pronounceable name from n (names made of digits would share one phonetic key)."""
    word = ""
    for _ in range(parts):
        n, digit = divmod(n, len(_SYLLABLES))
        word += _SYLLABLES[digit]
    return word.capitalize()


def distinct_patient(n: int) -> dict:
    """Person number n: own MRN, name, birth date and phone, as a front desk registers them."""
    return patient(identifier=[{"system": "urn:bench", "value": f"N{n}"}],
                   name=[{"family": _name(n, 4), "given": [_name(n * 7919 % 331_776, 2)]}],
                   birthDate=f"{1930 + n % 90}-{1 + n // 90 % 12:02d}-{1 + n // 1080 % 28:02d}",
                   telecom=[{"system": "phone", "value": f"555-{n:07d}"}])


def _client(args) -> tuple[int, list[float]]:
    port, method, path, body, seconds, token = args
    latencies, end = [], time.perf_counter() + seconds
    counter = (os.getpid() % 10_000) * 1_000_000 + int(time.time() * 1000) % 1_000_000
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    while time.perf_counter() < end:
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sent = body
        if body == DISTINCT:
            counter += 1
            sent = json.dumps(distinct_patient(counter)).encode()
        conn.request(method, path, body=sent, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status >= 300 and response.status != 201:
            raise RuntimeError(f"{method} {path}: {response.status}")
        latencies.append(time.perf_counter() - start)
    return len(latencies), latencies


def load(port: int, method: str, path: str, body: bytes | None, seconds: float, concurrency: int,
         token: str | None = None) -> dict:
    with mp.Pool(concurrency) as pool:
        results = pool.map(_client, [(port, method, path, body, seconds, token)] * concurrency)
    latencies = sorted(l for _, ls in results for l in ls)
    count = len(latencies)
    return {"rps": count / seconds, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(count * 0.99) - 1]}


def _seed(config: Path, patients: int, base_url: str) -> tuple[str, str, str | None]:
    """Seed Patients; with auth on, also register a client and take a token for base_url
    (the gateway verifies every request's token, as a real deployment does)."""
    from gateway.app import create_app
    from gateway.settings import load_settings
    app = create_app(load_settings(environ={"GATEWAY_CONFIG": str(config)}))
    container = app.extensions["fhir_gateway"]
    token = None
    if container.settings.auth == "on":
        created = container.auth.add_client("bench", "system/*.cruds", "integration_admin")
        token = container.auth.client_credentials(created["client_id"], created["client_secret"],
                                                  None, base_url)["access_token"]
    client = app.test_client()
    headers = {"Content-Type": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    first = None
    for i in range(patients):
        body = dict(distinct_patient(i), name=[{"family": f"Family{i % 100:03d}", "given": [f"Given{i}"]}])
        created = client.post("/fhir/Patient", json=body, headers=headers)
        first = first or created.get_json()["id"]
    read = client.get(f"/fhir/Patient/{first}", headers=headers).get_data(as_text=True)
    search = client.get("/fhir/Patient?family=Family007&_count=10", headers=headers).get_data(as_text=True)
    container.db.dispose()
    return first, json.dumps({"read": read, "search": search}), token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--auth", choices=["off", "on"], default="off",
                        help="on: every request carries a bearer token the gateway verifies")
    parser.add_argument("--rate-limit", choices=["off", "on"], default="off",
                        help="on: the inbound limits run (memory storage, a budget far above the load)")
    parser.add_argument("--audit-reads", choices=["journal", "inline"], default="journal",
                        help="inline: each read commits its AuditEvent before answering "
                             "(the pre-journal behaviour), for comparison")
    parser.add_argument("--scenarios", default="read,search,create")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--create", choices=["distinct", "same"], default="distinct",
                        help="distinct: each create registers a different person (the front desk); "
                             "same: the one Patient again and again (a duplicate storm: every "
                             "create is scored against its look-alikes and queues reviews)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    config = tmp / "gateway.toml"
    # Rate limits off: thousands of requests a second from one address would be throttled
    # (429), which measures the limiter, not the facade.
    # The base URL is fixed so that tokens (auth on) carry the audience the gateway expects.
    gw_port, bare_port = _port(), _port()
    base_url = f"http://127.0.0.1:{gw_port}/fhir"
    config.write_text(f'data_dir = "{tmp}"\nauth = "{args.auth}"\nlog_level = "WARNING"\n'
                      f'rate_limit = "{args.rate_limit}"\nrate_limit_default = "100000000/minute"\n'
                      f'base_url = "{base_url}"\naudit_reads = "{args.audit_reads}"\n')
    env = dict(os.environ, GATEWAY_CONFIG=str(config), BENCH_BODIES=str(tmp / "bodies.json"))
    from gateway.store.migrate import upgrade
    upgrade(f"sqlite:///{tmp / 'gateway.db'}")
    first, bodies, token = _seed(config, args.patients, base_url)
    (tmp / "bodies.json").write_text(bodies)
    gunicorn = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--worker-class",
                "sync", "--log-level", "warning"]
    procs = [subprocess.Popen(gunicorn + ["--bind", f"127.0.0.1:{gw_port}", "wsgi:app"], cwd=ROOT, env=env),
             subprocess.Popen(gunicorn + ["--bind", f"127.0.0.1:{bare_port}", "bare_app:app"],
                              cwd=ROOT / "loadtests", env=env)]
    try:
        _wait(f"http://127.0.0.1:{gw_port}/healthz")
        _wait(f"http://127.0.0.1:{bare_port}/fhir/Patient/x")
        create_body = DISTINCT if args.create == "distinct" else json.dumps(patient()).encode()
        scenarios = [("read", "GET", f"/fhir/Patient/{first}", None, 0.60),
                     ("search", "GET", "/fhir/Patient?family=Family007&_count=10", None, 0.30),
                     ("create", "POST", "/fhir/Patient", create_body, 0.08)]
        print(f"rate limit {args.rate_limit}, auth {args.auth}, read audit {args.audit_reads}, "
              f"{args.workers} sync workers, {args.concurrency} clients, "
              f"{args.patients} patients, {args.rounds} round(s) of {args.seconds:g} s")
        print(f"{'scenario':8} {'bare rps':>9} {'gw rps':>8} {'ratio':>6} {'goal':>5} "
              f"{'gw p50':>7} {'gw p99':>7} {'p99/p50':>7}")
        wanted = args.scenarios.split(",")
        for name, method, path, body, goal in [s for s in scenarios if s[0] in wanted]:
            bares, gws = [], []
            for _ in range(args.rounds):
                bares.append(load(bare_port, method, path, body, args.seconds, args.concurrency, token))
                gws.append(load(gw_port, method, path, body, args.seconds, args.concurrency, token))
            ratio = statistics.median(g["rps"] / b["rps"] for g, b in zip(gws, bares))
            bare, gw = (min(runs, key=lambda r: abs(r["rps"] - statistics.median(x["rps"] for x in runs)))
                        for runs in (bares, gws))
            print(f"{name:8} {bare['rps']:9.0f} {gw['rps']:8.0f} {ratio:6.0%} {goal:5.0%} "
                  f"{gw['p50_ms']:6.1f}ms {gw['p99_ms']:6.1f}ms {gw['p99_ms'] / gw['p50_ms']:7.1f}",
                  flush=True)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


if __name__ == "__main__":
    main()
