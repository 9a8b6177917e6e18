"""The read hot path (bare connection, hand-formatted dates) answers what it always did: the
stored bytes, ETag and an RFC 7231 Last-Modified equal to meta.lastUpdated, and an AuditEvent
per read that names the Patient; SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from fhir_data import FHIR_JSON, patient


def test_read_serves_the_stored_bytes_with_version_headers(client):
    created = client.post("/fhir/Patient", data=json.dumps(patient()), content_type=FHIR_JSON)
    body = created.get_data(as_text=True)
    pid = created.get_json()["id"]
    read = client.get(f"/fhir/Patient/{pid}", headers={"Accept": FHIR_JSON})
    assert read.status_code == 200 and read.get_data(as_text=True) == body
    assert read.headers["Content-Type"] == f"{FHIR_JSON}; charset=utf-8"
    assert read.headers["ETag"] == 'W/"1"'
    last_modified = read.headers["Last-Modified"]
    assert last_modified.endswith(" GMT") and last_modified[3:5] == ", "
    updated = datetime.fromisoformat(created.get_json()["meta"]["lastUpdated"].replace("Z", "+00:00"))
    assert parsedate_to_datetime(last_modified) == updated.replace(microsecond=0)
    assert last_modified == updated.strftime("%a, %d %b %Y %H:%M:%S GMT")


def test_every_read_is_audited_and_found_by_patient(client):
    pid = client.post("/fhir/Patient", data=json.dumps(patient()), content_type=FHIR_JSON).get_json()["id"]
    for _ in range(3):
        assert client.get(f"/fhir/Patient/{pid}").status_code == 200
    assert client.get("/fhir/Patient/not-there").status_code == 404
    events = client.get(f"/fhir/AuditEvent?patient={pid}&_count=50").get_json()
    reads = [e["resource"] for e in events["entry"] if e["resource"]["subtype"][0]["code"] == "read"]
    assert len(reads) == 3 and all(r["outcome"] == "0" for r in reads)
    assert all({"reference": f"Patient/{pid}"} in [x["what"] for x in r["entity"]] for r in reads)
    recorded = [datetime.fromisoformat(r["recorded"].replace("Z", "+00:00")) for r in reads]
    assert all(abs((datetime.now(timezone.utc) - moment).total_seconds()) < 300 for moment in recorded)
    missing = client.get("/fhir/AuditEvent?entity=Patient/not-there").get_json()
    assert missing["total"] == 1 and missing["entry"][0]["resource"]["outcome"] == "4"


def test_search_bundle_text_is_the_canonical_encoding(client):
    """Search entries are copied from the stored text, not re-encoded: the bytes must be what
    encoding the whole Bundle gives (non-ASCII kept, compact), _pretty and _elements intact."""
    for family in ("Müller", "Nguyễn", "O'Brien \"Jr\""):
        body = patient(name=[{"family": family, "given": ["Zoë"]}])
        assert client.post("/fhir/Patient", data=json.dumps(body), content_type=FHIR_JSON).status_code == 201
    text = client.get("/fhir/Patient?given=zoe").get_data(as_text=True)
    bundle = json.loads(text)
    assert len(bundle["entry"]) == 3 and bundle["total"] == 3
    assert text == json.dumps(bundle, ensure_ascii=False, separators=(",", ":"))
    pretty = client.get("/fhir/Patient?given=zoe&_pretty=true").get_data(as_text=True)
    assert "\n  " in pretty and json.loads(pretty)["entry"] == bundle["entry"]
    subset = client.get("/fhir/Patient?given=zoe&_elements=name").get_json()
    assert all("telecom" not in e["resource"] and "name" in e["resource"] for e in subset["entry"])
