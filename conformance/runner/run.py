"""The checks: CapabilityStatement truth, per-resource interactions, the OperationOutcome
battery, and every returned resource through the public validators.

May import: requests, stdlib, conformance.*. It talks to the server only over HTTP, as any
client would; nothing here imports the gateway.
"""
from __future__ import annotations

import json
from pathlib import Path

import requests

from conformance.runner.report import Report
from conformance.runner.smart import run_smart
from conformance.validators import invariants, json_schema, known_issues, node

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
FHIR_JSON = "application/fhir+json"
ORDER = ["Binary", "Patient", "Appointment", "Coverage", "DocumentReference"]


class Runner:
    def __init__(self, base: str, token: str | None = None, timeout: float = 30, *,
                 client_id: str | None = None, client_secret: str | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.base, self.timeout = base.rstrip("/"), timeout
        self.http = requests.Session()
        self.http.headers.update({"Accept": FHIR_JSON})
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.report = Report(self.base)
        self.returned: list[tuple[str, dict]] = []
        self.created: dict[str, str] = {}

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(f"{self.base}/{path}", timeout=self.timeout, **kw)

    def send(self, method: str, path: str, body, **headers) -> requests.Response:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.http.request(method, f"{self.base}/{path}", data=data, timeout=self.timeout,
                                 headers={"Content-Type": FHIR_JSON, **headers})

    def keep(self, label: str, response: requests.Response) -> dict | None:
        try:
            body = response.json()
        except ValueError:
            return None
        if isinstance(body, dict) and "resourceType" in body:
            self.returned.append((label, body))
        return body

    def run(self) -> Report:
        statement = self.capability()
        if statement is not None:
            resources = {r["type"]: r for r in statement.get("rest", [{}])[0].get("resource", [])}
            for number, rtype in enumerate(sorted(resources, key=lambda t: ORDER.index(t) if t in ORDER else 99), 1):
                self.resource(f"2.{number}", rtype, resources[rtype])
            self.outcomes()
            if statement.get("rest", [{}])[0].get("security"):
                run_smart(self.report, self.base, self.client_id, self.client_secret)
        self.validators()
        return self.report

    def capability(self) -> dict | None:
        response = self.get("metadata")
        body = self.keep("CapabilityStatement", response) or {}
        ok = response.status_code == 200 and body.get("resourceType") == "CapabilityStatement"
        self.report.add("1.1", "GET metadata returns a CapabilityStatement", ok, f"HTTP {response.status_code}")
        self.report.add("1.2", "fhirVersion is 4.0.1 and json is a format", body.get("fhirVersion") == "4.0.1"
                        and "json" in body.get("format", []), str(body.get("fhirVersion")))
        return body if ok else None

    def _sample(self, rtype: str) -> dict | None:
        path = SAMPLES / f"{rtype}.json"
        if not path.exists():
            return None
        text = path.read_text(encoding="utf-8")
        for other, rid in self.created.items():
            text = text.replace("{" + other + "}", rid)
        return None if "{" in text.replace("{\n", "").split('"', 1)[0] else json.loads(text)

    def resource(self, number: str, rtype: str, entry: dict) -> None:
        codes = {i["code"] for i in entry.get("interaction", [])}
        sample = self._sample(rtype)
        if "create" not in codes or sample is None:
            self.report.add(f"{number}.0", f"{rtype}: advertised without create; read-side checks only",
                            True, "no sample created")
            return
        created = self.send("POST", rtype, sample)
        body = self.keep(f"{rtype} create", created) or {}
        ok = self.report.add(f"{number}.1", f"{rtype}: create answers 201 with Location and ETag",
                             created.status_code == 201 and created.headers.get("Location") and
                             created.headers.get("ETag"), f"HTTP {created.status_code}")
        if not ok or "id" not in body:
            return
        rid = self.created[rtype] = body["id"]
        if "read" in codes:
            read = self.get(f"{rtype}/{rid}")
            self.keep(f"{rtype} read", read)
            self.report.add(f"{number}.2", f"{rtype}: read returns the resource with its ETag",
                            read.status_code == 200 and read.headers.get("ETag") == created.headers.get("ETag"),
                            f"HTTP {read.status_code}")
        if "vread" in codes:
            self.report.add(f"{number}.3", f"{rtype}: vread of version 1", self.get(f"{rtype}/{rid}/_history/1").status_code == 200)
        if "search-type" in codes:
            self.search(number, rtype, rid, entry)

    def search(self, number: str, rtype: str, rid: str, entry: dict) -> None:
        found = self.get(rtype, params={"_id": rid})
        bundle = self.keep(f"{rtype} search", found) or {}
        ids = [e.get("resource", {}).get("id") for e in bundle.get("entry", [])]
        self.report.add(f"{number}.4", f"{rtype}: search by _id finds the created resource",
                        found.status_code == 200 and rid in ids, f"HTTP {found.status_code}")
        for i, param in enumerate(entry.get("searchParam", []), 1):
            response = self.get(rtype, params={param["name"]: "conformance-no-match", "_count": "1"},
                                headers={"Prefer": "handling=strict"})
            result = self.keep(f"{rtype}?{param['name']}", response) or {}
            # a value that matches nothing must still be a valid searchset (or a 400 for a value
            # the type cannot parse, e.g. a date); a 500 or an unknown-parameter error fails
            ok = (response.status_code == 200 and result.get("type") == "searchset") or (
                response.status_code == 400 and "not a valid" in json.dumps(result))
            self.report.add(f"{number}.5.{i}", f"{rtype}: advertised search parameter {param['name']} is accepted",
                            ok, f"HTTP {response.status_code}")

    def outcomes(self) -> None:
        battery = [
            ("3.1", "malformed JSON is 400", lambda: self.send("POST", "Patient", '{"resourceType": "Patient",'), 400),
            ("3.2", "gender M is 400", lambda: self.send("POST", "Patient", {"resourceType": "Patient", "gender": "M"}), 400),
            ("3.3", "unknown element is 400", lambda: self.send("POST", "Patient", {"resourceType": "Patient", "shoeSize": 1}), 400),
            ("3.4", "Appointment with start and no end is refused", lambda: self.send("POST", "Appointment", {
                "resourceType": "Appointment", "status": "booked", "start": "2026-01-01T09:00:00Z",
                "participant": [{"status": "accepted", "actor": {"display": "x"}}]}), 400),
            ("3.5", "unknown search parameter under handling=strict is 400",
             lambda: self.get("Patient", params={"shoe-size": "9"}, headers={"Prefer": "handling=strict"}), 400),
            ("3.6", "text/plain body is 415", lambda: self.http.post(f"{self.base}/Patient", data="x", timeout=self.timeout,
                                                                   headers={"Content-Type": "text/plain"}), 415),
            ("3.7", "XML-only Accept is 406", lambda: self.get("metadata", headers={"Accept": "application/fhir+xml"}), 406),
            ("3.8", "a 6 MB body is 413", lambda: self.send("POST", "Patient", "{" + " " * 6_000_000 + "}"), 413),
            ("3.9", "vread of a missing version is 404", lambda: self.get(f"Patient/{self.created.get('Patient', 'x')}/_history/999"), 404),
            ("3.10", "stale If-Match is 412", lambda: self.send("PUT", f"Patient/{self.created.get('Patient', 'x')}", dict(
                json.loads((SAMPLES / "Patient.json").read_text()), id=self.created.get("Patient", "x")), **{"If-Match": 'W/"999"'}), 412),
        ]
        for number, name, call, status in battery:
            response = call()
            body = self.keep(name, response) or {}
            self.report.add(number, name, response.status_code == status and body.get("resourceType") == "OperationOutcome",
                            f"HTTP {response.status_code}")

    def validators(self) -> None:
        resources = [r for _label, r in self.returned]
        for number, validator, findings in (
                ("4.1", "fhir.schema.json", json_schema.validate(resources)),
                ("4.2", "Node (FHIR.js, Asymmetrik)", node.validate_batch(resources)),
                ("4.3", "FHIRPath invariants", invariants.validate(resources))):
            real, known = known_issues.split(findings)
            self.report.add(number, f"{validator}: all {len(resources)} returned resources and Bundles are valid",
                            not real, "; ".join(f"{self.returned[f.index][0]}: {f.path}: {f.message}" for f in real[:10]))
            reasons = sorted({reason for _f, reason in known})
            for i, reason in enumerate(reasons, 1):
                count = sum(1 for _f, r in known if r == reason)
                self.report.add(f"{number}.k{i}", f"{validator}: {count} known false positive(s) set aside",
                                True, reason)
