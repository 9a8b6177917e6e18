"""Every call that touches PHI leaves an AuditEvent, refused and failed calls included."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

from fhir_data import FHIR_JSON, appointment, patient


def _events(client, query=""):
    return client.get(f"/fhir/AuditEvent?_count=100{query}").get_json()


def test_create_read_search_are_each_audited_with_their_entities(client):
    pid = client.post("/fhir/Patient", data=json.dumps(patient()), content_type=FHIR_JSON).get_json()["id"]
    aid = client.post("/fhir/Appointment", data=json.dumps(appointment(pid)), content_type=FHIR_JSON).get_json()["id"]
    client.get(f"/fhir/Patient/{pid}")
    client.get("/fhir/Appointment?status=booked")
    about_patient = _events(client, f"&patient={pid}")
    subtypes = sorted(e["resource"]["subtype"][0]["code"] for e in about_patient["entry"])
    # Patient create, Appointment create (in the patient's compartment), the read, the search hit
    assert subtypes == ["create", "create", "read", "search-type"]
    search = next(e["resource"] for e in about_patient["entry"]
                  if e["resource"]["subtype"][0]["code"] == "search-type")
    whats = [ent.get("what", {}).get("reference") for ent in search["entity"]]
    assert f"Appointment/{aid}" in whats
    query = next(ent["query"] for ent in search["entity"] if "query" in ent)
    assert base64.b64decode(query).decode() == "Appointment?status=booked"
    assert search["action"] == "E" and search["outcome"] == "0"


def test_refused_and_failed_calls_are_audited(client):
    client.post("/fhir/Patient", data=json.dumps(patient(gender="M")), content_type=FHIR_JSON)
    client.post("/fhir/Patient", data="{broken", content_type=FHIR_JSON)
    client.get("/fhir/Patient/not-there")
    failures = _events(client, "&outcome=4")
    assert failures["total"] >= 3
    descriptions = " ".join(e["resource"]["outcomeDesc"] for e in failures["entry"])
    assert "not valid JSON" in descriptions


def test_audit_events_cannot_be_written_through_the_api(client):
    event = {"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2026-01-01T00:00:00Z",
             "agent": [{"requestor": True}], "source": {"observer": {"display": "x"}}}
    response = client.post("/fhir/AuditEvent", data=json.dumps(event), content_type=FHIR_JSON)
    assert response.status_code == 405


def test_audit_verify_cli_detects_an_edited_row(app, client, tmp_path, settings_overrides):
    client.post("/fhir/Patient", data=json.dumps(patient()), content_type=FHIR_JSON)
    env = {"GATEWAY_DATABASE_URL": settings_overrides["database_url"], "GATEWAY_AUTH": "off",
           "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "gateway.cli", "audit", "verify"]
    ok = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    db = app.extensions["fhir_gateway"].db
    with db.transaction() as session:
        session.connection().exec_driver_sql(
            "UPDATE audit_events SET content = replace(content, '\"R\"', '\"D\"')")
        session.connection().exec_driver_sql(
            "UPDATE audit_events SET content = content || ' ' WHERE pk = (SELECT min(pk) FROM audit_events)")
    broken = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["first_broken"] is not None
