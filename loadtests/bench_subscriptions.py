"""Benchmark: what Subscription matching adds to a write (a Patient create through FhirService).

Measures, in one process on a fresh migrated database, N Patient creates with 0 Subscriptions,
then with 20 active Patient Subscriptions of distinct criteria (none matching, so only the
searches are paid, not the notification rows), then with 20 that all match. Reports the median
and mean create time and the time spent in the enqueue hook itself, with planner statistics fresh (as the daily
db-analyze job keeps them). Figures, never pass/fail.
Usage: python loadtests/bench_subscriptions.py [--creates 300] [--database-url URL]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from gateway.app import create_app
from gateway.services.audit import Agent
from gateway.settings import settings_from_mapping
from gateway.store.migrate import upgrade
from gateway.store.reindex import analyze

PATIENT = {"resourceType": "Patient", "name": [{"family": "Rivera", "given": ["Ana"]}],
           "gender": "female", "birthDate": "1990-04-02",
           "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-1"}]}


def subscription(criteria: str) -> dict:
    return {"resourceType": "Subscription", "status": "requested", "reason": "bench",
            "criteria": criteria, "channel": {"type": "rest-hook", "endpoint": "https://hooks.example.org/x"}}


def run(fhir, creates: int) -> dict:
    with fhir.db.transaction() as session:
        analyze(session)  # planner statistics, as the daily db-analyze job keeps them
    hook = fhir.notify.enqueue_matches
    spent: list[float] = []

    def timed(*args):
        started = time.perf_counter()
        try:
            return hook(*args)
        finally:
            spent.append(time.perf_counter() - started)

    fhir.notify.enqueue_matches = timed
    took = []
    for _ in range(creates):
        started = time.perf_counter()
        fhir.create("Patient", dict(PATIENT), base_url="http://bench/fhir", agent=Agent("bench"))
        took.append(time.perf_counter() - started)
    del fhir.notify.enqueue_matches
    return {"create_median_ms": round(statistics.median(took) * 1000, 3),
            "create_mean_ms": round(statistics.mean(took) * 1000, 3),
            "hook_median_ms": round(statistics.median(spent) * 1000, 3),
            "hook_mean_ms": round(statistics.mean(spent) * 1000, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=300)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        app = create_app(settings_from_mapping({"database_url": url, "data_dir": tmp, "auth": "off",
                                                "audit_reads": "inline", "rate_limit": "off"}))
        fhir = app.extensions["fhir_gateway"].fhir
        run(fhir, 30)  # warm caches (statements, validation models)
        results = {"0 subscriptions": run(fhir, args.creates)}
        for i in range(20):
            fhir.create("Subscription", subscription(f"Patient?family=Nobody{i}&gender=male"),
                        base_url="http://bench/fhir", agent=Agent("bench"))
        run(fhir, 10)
        results["20 subscriptions, none matching"] = run(fhir, args.creates)
        for i in range(20):
            fhir.create("Subscription", subscription(f"Patient?family=Rivera&birthdate=ge19{i:02d}"),
                        base_url="http://bench/fhir", agent=Agent("bench"))
        results["20 none + 20 matching (distinct)"] = run(fhir, args.creates)
        app.extensions["fhir_gateway"].db.dispose()
    print(f"{args.creates} Patient creates per row, {url.split(':')[0]}")
    for label, figures in results.items():
        print(f"  {label:34} {figures}")


if __name__ == "__main__":
    main()
