"""`conformance run` against a real gateway on a real socket passes every check; against a
server that advertises what it does not do, the report names the failures."""
from __future__ import annotations

import json
import threading

import pytest
from flask import Flask, Response
from werkzeug.serving import make_server

from conformance.runner.run import Runner


def _serve(app) -> tuple[str, object]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


@pytest.fixture
def gateway(live_gateway):
    base, app = live_gateway
    auth = app.extensions["fhir_gateway"].auth
    client = auth.add_client("conformance", "system/*.cruds", "integration_admin")
    token = auth.issue(client["client_id"], "integration_admin", "system/*.cruds", base)["access_token"]
    return base, token, client


def test_the_gateway_passes_every_check(gateway, tmp_path):
    base, token, client = gateway
    report = Runner(base, token, client_id=client["client_id"], client_secret=client["client_secret"]).run()
    assert report.failures == [], report.summary()
    assert len(report.checks) >= 60
    smart = {c.number for c in report.checks if c.number.startswith("S.")}
    assert {"S.1", "S.3", "S.4", "S.7", "S.18", "S.24", "S.x2", "S.x3"} <= smart
    report.write(tmp_path)
    assert "failures=\"0\"" in (tmp_path / "conformance.xml").read_text()
    assert "| 3.4 | Appointment with start and no end is refused | pass |" in (tmp_path / "conformance.md").read_text()


def test_a_server_that_lies_is_reported(tmp_path):
    liar = Flask("liar")
    statement = {"resourceType": "CapabilityStatement", "status": "active", "date": "2026-01-01",
                 "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
                 "rest": [{"mode": "server", "resource": [{"type": "Patient", "interaction": [
                     {"code": "create"}, {"code": "read"}], "searchParam": []}]}]}
    liar.add_url_rule("/fhir/metadata", "m", lambda: Response(json.dumps(statement), mimetype="application/fhir+json"))
    # create "succeeds" without Location/ETag and reads answer 500: both must be caught
    liar.add_url_rule("/fhir/Patient", "c", lambda: Response(json.dumps({"resourceType": "Patient", "id": "1"}),
                                                             201, mimetype="application/fhir+json"), methods=["POST"])
    liar.add_url_rule("/fhir/Patient/<rid>", "r", lambda rid: Response("boom", 500))
    root, server = _serve(liar)
    try:
        report = Runner(f"{root}/fhir").run()
    finally:
        server.shutdown()
    failed = {c.number for c in report.failures}
    assert "2.1.1" in failed  # create without Location/ETag
    assert {"3.1", "3.2"} <= failed  # bad input accepted instead of a 400 OperationOutcome
