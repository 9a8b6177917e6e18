"""Prometheus metrics: counters move after real requests, deliveries to the sandbox EHR and
inbound messages; labels never carry ids; a registry per app; multiprocess aggregation."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.metrics import GatewayMetrics, metered_inbound
from gateway.app import create_app
from gateway.services.inbound import InboundApplier
from gateway.settings import settings_from_mapping
from gateway.sync.inbound import InboundHandler

FHIR_JSON = "application/fhir+json"
PATIENT = {"resourceType": "Patient", "identifier": [{"system": "urn:fhir-gateway:mrn", "value": "MRN-8001"}],
           "name": [{"family": "Haddad", "given": ["Samir"]}], "gender": "male", "birthDate": "1969-02-14"}


def samples(client) -> dict[tuple[str, tuple], float]:
    """Every sample of GET /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(response.data.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_rule_never_by_raw_path(client):
    created = client.post("/fhir/Patient", data=json.dumps(PATIENT), content_type=FHIR_JSON)
    pid = created.get_json()["id"]
    for _ in range(3):
        assert client.get(f"/fhir/Patient/{pid}").status_code == 200
    assert client.get("/fhir/Patient/not-there").status_code == 404
    assert client.get("/no/such/place").status_code == 404
    found = samples(client)
    read = "/fhir/<rtype>/<rid>"
    assert value(found, "fhir_gateway_http_requests_total", method="GET", route=read, status="200") == 3
    assert value(found, "fhir_gateway_http_requests_total", method="GET", route=read, status="404") == 1
    assert value(found, "fhir_gateway_http_requests_total", method="POST", route="/fhir/<rtype>",
                 status="201") == 1
    assert value(found, "fhir_gateway_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(found, "fhir_gateway_http_request_seconds_count", route=read) == 4
    text = client.get("/metrics").data.decode()
    assert pid not in text and "not-there" not in text and "/no/such" not in text


def test_unknown_methods_are_one_label(client):
    client.open("/fhir/Patient", method="BREW")
    found = samples(client)
    assert sum(v for (name, labels), v in found.items()
               if name == "fhir_gateway_http_requests_total" and ("method", "other") in labels) == 1


def test_metrics_need_no_token_when_auth_is_on(settings_overrides):
    app = create_app(settings_from_mapping(settings_overrides | {"auth": "on"}))
    client = app.test_client()
    assert client.get("/fhir/Patient").status_code == 401
    found = samples(client)
    assert value(found, "fhir_gateway_http_requests_total", method="GET", route="/fhir/<rtype>",
                 status="401") == 1
    app.extensions["fhir_gateway"].db.dispose()


def test_metrics_off_removes_the_route(settings_overrides):
    app = create_app(settings_from_mapping(settings_overrides | {"metrics": "off"}))
    response = app.test_client().get("/metrics")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"
    app.extensions["fhir_gateway"].db.dispose()


def test_each_app_counts_in_its_own_registry(settings_overrides):
    first = create_app(settings_from_mapping(settings_overrides))
    second = create_app(settings_from_mapping(settings_overrides))
    for _ in range(2):
        first.test_client().get("/fhir/metadata")
    metadata = {"method": "GET", "route": "/fhir/metadata", "status": "200"}
    assert value(samples(first.test_client()), "fhir_gateway_http_requests_total", **metadata) == 2
    assert value(samples(second.test_client()), "fhir_gateway_http_requests_total", **metadata) == 0
    for app in (first, second):
        app.extensions["fhir_gateway"].db.dispose()


def test_rate_limited_requests_are_counted_by_scope(settings_overrides):
    app = create_app(settings_from_mapping(settings_overrides | {"rate_limit_default": "1/minute",
                                                                 "rate_limit_token": "1/minute"}))
    client = app.test_client()
    for _ in range(3):
        client.get("/fhir/metadata")
    for _ in range(2):
        client.post("/oauth/token", data={})
    found = samples(client)
    assert value(found, "fhir_gateway_rate_limited_total", scope="fhir") == 2
    assert value(found, "fhir_gateway_rate_limited_total", scope="oauth") == 1
    assert value(found, "fhir_gateway_http_requests_total", method="GET", route="/fhir/metadata",
                 status="429") == 2
    app.extensions["fhir_gateway"].db.dispose()


# --- deliveries and inbound messages, with the sandbox HL7 v2 EHR over real sockets -----------

@pytest.fixture
def gateway(ehr, settings_overrides):
    app = create_app(settings_from_mapping(settings_overrides | {"backends": [{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.2.0",
        "endpoint": ehr.mllp_url, "resources": ["Patient"],
        "options": {"read_timeout": 1.5, "assigning_authority": "CLINIC"}}]}))
    yield app
    app.extensions["fhir_gateway"].db.dispose()


def _fault(ehr, **body) -> None:
    request = urllib.request.Request(f"{ehr.http_url}/faults", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).read()


def test_deliveries_are_counted_by_outcome_and_timed(gateway, ehr):
    client = gateway.test_client()

    def create(mrn: str) -> int:
        patient = dict(PATIENT, identifier=[{"system": "urn:fhir-gateway:mrn", "value": mrn}])
        return client.post("/fhir/Patient", data=json.dumps(patient), content_type=FHIR_JSON).status_code

    assert create("MRN-8101") == 201
    _fault(ehr, mode="nak-ar", count=1, text="MRN format rejected")
    assert create("MRN-8102") == 422
    _fault(ehr, mode="nak-ae", count=1)
    assert create("MRN-8103") == 201  # stored, and queued in the outbox for the worker
    found = samples(client)
    for outcome in ("delivered", "refused", "unavailable"):
        assert value(found, "fhir_gateway_backend_deliveries_total", backend="ehr",
                     interaction="create", outcome=outcome) == 1, outcome
    assert value(found, "fhir_gateway_backend_delivery_seconds_count", backend="ehr") == 3
    assert value(found, "fhir_gateway_backend_delivery_seconds_sum", backend="ehr") > 0


A04 = ("MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124080000||ADT^A04^ADT_A01|IN-{n}|P|2.5.1\r"
       "EVN|A04|20261124080000\rPID|1||MRN-{n}^^^CLINIC^MR||Nguyen^Linh||19990721|F\rPV1|1|N\r")


def test_inbound_messages_are_counted_by_ack_code(gateway):
    container = gateway.extensions["fhir_gateway"]
    backend = container.settings.backends[1]
    handler = metered_inbound(InboundHandler(backend, container.profiles[backend.profile],
                                             InboundApplier(container.fhir)), backend.name, container.metrics)
    assert b"MSA|AA|IN-9001" in handler(A04.format(n=9001).encode())
    assert b"MSA|AA|IN-9002" in handler(A04.format(n=9002).encode())
    assert b"|AR|" in handler(b"MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124080000||ZZZ^Z01|IN-9|P|2.5.1\r")
    found = samples(gateway.test_client())
    assert value(found, "fhir_gateway_inbound_messages_total", backend="ehr", ack="AA") == 2
    assert value(found, "fhir_gateway_inbound_messages_total", backend="ehr", ack="AR") == 1


_WORKER = """
import sys
from gateway.api.metrics import GatewayMetrics
metrics = GatewayMetrics(sys.argv[1])
metrics.requests.labels("GET", "/fhir/metadata", "200").inc(int(sys.argv[2]))
"""


def test_multiprocess_mode_sums_every_workers_values(tmp_path):
    """Two worker processes write to PROMETHEUS_MULTIPROC_DIR; /metrics sums them."""
    for count in (2, 3):
        subprocess.run([sys.executable, "-c", _WORKER, str(tmp_path), str(count)], check=True,
                       env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": ""}, timeout=60)
    text = GatewayMetrics(str(tmp_path)).exposition().decode()
    assert 'fhir_gateway_http_requests_total{method="GET",route="/fhir/metadata",status="200"} 5.0' in text
