"""Locust load test for a running gateway: a front-desk mix of reads, searches and creates.

Run against `make demo` (or any deployment):
    .venv/bin/locust -f loadtests/locustfile.py --host http://127.0.0.1:8080 \
        --headless -u 20 -r 5 -t 1m
Set FHIR_TOKEN to send a bearer token. Figures come from locust's own report; the ratios the
issues ask for are measured by bench_rest.py (same machine, same gunicorn settings, one run).
"""
from __future__ import annotations

import json
import os
import random
import uuid

from locust import HttpUser, between, task

HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
if os.environ.get("FHIR_TOKEN"):
    HEADERS["Authorization"] = f"Bearer {os.environ['FHIR_TOKEN']}"


def _patient() -> dict:
    return {"resourceType": "Patient",
            "identifier": [{"system": "urn:loadtest", "value": uuid.uuid4().hex}],
            "name": [{"family": random.choice(["Rivera", "Okafor", "Nguyen", "Smith"]),
                      "given": ["Load"]}],
            "gender": random.choice(["male", "female", "other", "unknown"]),
            "birthDate": f"19{random.randint(30, 99)}-0{random.randint(1, 9)}-1{random.randint(0, 9)}"}


class FrontDesk(HttpUser):
    wait_time = between(0.1, 0.5)
    known: list[str] = []

    def on_start(self) -> None:
        response = self.client.post("/fhir/Patient", data=json.dumps(_patient()), headers=HEADERS)
        if response.status_code == 201:
            self.known.append(response.json()["id"])

    @task(6)
    def read_patient(self) -> None:
        if self.known:
            self.client.get(f"/fhir/Patient/{random.choice(self.known)}", headers=HEADERS,
                            name="/fhir/Patient/[id]")

    @task(3)
    def search_family(self) -> None:
        family = random.choice(["Rivera", "Okafor", "Nguyen", "Smith"])
        self.client.get(f"/fhir/Patient?family={family}&_count=10", headers=HEADERS,
                        name="/fhir/Patient?family=")

    @task(1)
    def create_patient(self) -> None:
        response = self.client.post("/fhir/Patient", data=json.dumps(_patient()), headers=HEADERS)
        if response.status_code == 201:
            self.known.append(response.json()["id"])
