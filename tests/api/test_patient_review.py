"""Duplicate-patient detection and the staff review queue (/admin/review), on SQLite and
PostgreSQL: a near-duplicate queues exactly one item (with a warning in the write's outcome),
an unrelated Patient none, a rolled-back write none, an inbound ADT duplicate one; a duplicate
decision merges through $merge (one audited unit), a not_duplicate decision is never flagged
again; decisions are final (409); bad input is 400/404/415; only integration_admin gets in."""
from __future__ import annotations

import json

import pytest

from fhir_data import FHIR_JSON, appointment, patient
from gateway.app import create_app
from gateway.cli import main
from gateway.settings import settings_from_mapping

MRN = "urn:oid:2.16.840.1.113883.3.72.5.9.1"
OUTCOME = {"Prefer": "return=OperationOutcome"}


def _create(client, body: dict, headers=None):
    return client.post("/fhir/Patient", data=json.dumps(body), content_type=FHIR_JSON, headers=headers or {})


def _near(mrn: str = "MRN-2002", **changes) -> dict:
    """The fhir_data Patient registered again: new MRN, a typo in the family name."""
    return patient(identifier=[{"system": MRN, "value": mrn}],
                   name=[{"family": "Chalmres", "given": ["Peter"]}], **changes)


def _unrelated() -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "MRN-7777"}],
            "name": [{"family": "Nguyen", "given": ["Linh"]}], "gender": "female",
            "birthDate": "1999-07-21", "telecom": [{"system": "phone", "value": "555-0103"}]}


def _items(client, status: str = "open") -> list[dict]:
    response = client.get(f"/admin/review?status={status}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def _pair(client) -> tuple[str, str, dict]:
    original = _create(client, patient()).get_json()["id"]
    dup = _create(client, _near()).get_json()["id"]
    [item] = _items(client)
    return original, dup, item


def test_a_near_duplicate_queues_exactly_one_item_with_a_warning(client):
    original = _create(client, patient()).get_json()["id"]
    response = _create(client, _near(), OUTCOME)
    assert response.status_code == 201
    issues = response.get_json()["issue"]
    warning = next(i for i in issues if i["severity"] == "warning")
    assert warning["code"] == "duplicate" and f"Patient/{original}" in warning["diagnostics"]
    assert "queued for review" in warning["diagnostics"]
    dup = response.headers["Location"].split("/Patient/")[1].split("/")[0]
    [item] = _items(client)
    assert item["status"] == "open" and item["grade"] in ("probable", "certain")
    assert item["patient"]["reference"] == f"Patient/{dup}" and item["candidate"]["reference"] == f"Patient/{original}"
    assert item["candidate"] == {"reference": f"Patient/{original}", "name": "Chalmers, Peter James",
                                 "birthDate": "1974-12-25", "gender": "male",
                                 "mrn": {"system": MRN, "value": "MRN-1001"}, "active": True, "replacedBy": None}
    assert {"field": "family", "outcome": "close", "weight": 3.0} in item["reasons"]
    # changing the duplicate again re-scores the same item: still exactly one
    body = client.get(f"/fhir/Patient/{dup}").get_json()
    body.pop("meta")
    body["gender"] = "male"
    assert client.put(f"/fhir/Patient/{dup}", data=json.dumps(body), content_type=FHIR_JSON).status_code == 200
    assert len(_items(client)) == 1
    assert client.get(f"/admin/review/{item['id']}").get_json()["id"] == item["id"]


def test_an_unrelated_patient_queues_nothing(client):
    _create(client, patient())
    response = _create(client, _unrelated(), OUTCOME)
    assert [i["severity"] for i in response.get_json()["issue"]] == ["information"]
    assert _items(client) == [] and _items(client, "all") == []


def test_a_rolled_back_transaction_queues_nothing(client):
    original = _create(client, patient()).get_json()["id"]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1d4c5e9a-0000-4000-8000-000000000001", "resource": _near(),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": appointment("no-such-patient"), "request": {"method": "POST", "url": "Appointment"}}]}
    refused = client.post("/fhir", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert refused.status_code == 422
    assert _items(client, "all") == []
    assert client.get("/fhir/Patient").get_json()["total"] == 1
    # the same transaction without the bad entry commits, and says so in the entry's outcome
    bundle["entry"] = bundle["entry"][:1]
    done = client.post("/fhir", data=json.dumps(bundle), content_type=FHIR_JSON).get_json()
    outcome = done["entry"][0]["response"]["outcome"]
    assert f"Patient/{original}" in outcome["issue"][0]["diagnostics"]
    assert len(_items(client)) == 1


def test_a_failed_write_of_a_duplicate_queues_nothing(client):
    _create(client, patient())
    invalid = _near(birthDate="1974-13-45")
    assert _create(client, invalid).status_code == 400
    assert _items(client, "all") == []


def test_a_certain_match_by_if_none_exist_returns_the_existing_record(client):
    original = _create(client, patient()).get_json()["id"]
    again = _create(client, patient(), {"If-None-Exist": f"identifier={MRN}|MRN-1001"})
    assert again.status_code == 200 and again.get_json()["id"] == original
    assert _items(client, "all") == []


def test_a_failing_detection_never_blocks_the_write(app, client, caplog):
    """The review table is unreachable: the write still commits, nothing is queued, and the
    log names the Patient id and the error class only (no PHI)."""
    from sqlalchemy import text
    _create(client, patient())
    db = app.extensions["fhir_gateway"].db
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE patient_match_reviews RENAME TO patient_match_reviews_away"))
    try:
        with caplog.at_level("ERROR", logger="gateway.duplicates"):
            response = _create(client, _near(), OUTCOME)
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE patient_match_reviews_away RENAME TO patient_match_reviews"))
    assert response.status_code == 201
    dup = response.headers["Location"].split("/Patient/")[1].split("/")[0]
    assert client.get(f"/fhir/Patient/{dup}").status_code == 200
    [record] = [r for r in caplog.records if r.name == "gateway.duplicates"]
    assert dup in record.getMessage() and "Chalm" not in record.getMessage()
    assert _items(client, "all") == []


def test_detection_off_queues_nothing(settings_overrides):
    app = create_app(settings_from_mapping(dict(settings_overrides, match_detection="off")))
    client = app.test_client()
    _create(client, patient())
    assert _create(client, _near()).status_code == 201
    assert _items(client, "all") == []
    app.extensions["fhir_gateway"].db.dispose()


def test_resolve_duplicate_merges_in_one_audited_unit(client):
    original, dup, item = _pair(client)
    response = client.post(f"/admin/review/{item['id']}/resolve", json={
        "decision": "duplicate", "survivor": f"Patient/{original}", "note": "same person, typo"})
    assert response.status_code == 200, response.get_json()
    resolved = response.get_json()
    assert resolved["status"] == "duplicate" and resolved["note"] == "same person, typo"
    assert resolved["resolvedBy"] == "anonymous" and resolved["resolvedAt"]
    retired = client.get(f"/fhir/Patient/{dup}").get_json()
    assert retired["active"] is False
    assert retired["link"] == [{"other": {"reference": f"Patient/{original}"}, "type": "replaced-by"}]
    kept = client.get(f"/fhir/Patient/{original}").get_json()
    assert kept["link"] == [{"other": {"reference": f"Patient/{dup}"}, "type": "replaces"}]
    events = client.get(f"/fhir/AuditEvent?entity=Patient/{dup}&action=E").get_json()["entry"]
    unit = [e["resource"] for e in events if e["resource"]["subtype"][0]["code"] == "operation"]
    assert len(unit) == 1 and unit[0]["outcome"] == "0"
    assert {f"Patient/{original}", f"Patient/{dup}"} <= {e["what"]["reference"] for e in unit[0]["entity"] if "what" in e}
    again = client.post(f"/admin/review/{item['id']}/resolve", json={"decision": "dismissed"})
    assert again.status_code == 409 and again.get_json()["resourceType"] == "OperationOutcome"
    # the retired record is never flagged again, whatever changes
    body = {k: v for k, v in retired.items() if k != "meta"}
    assert client.put(f"/fhir/Patient/{dup}", data=json.dumps(body), content_type=FHIR_JSON).status_code == 200
    assert _items(client) == []


def test_resolve_not_duplicate_is_never_flagged_again(client):
    original, dup, item = _pair(client)
    response = client.post(f"/admin/review/{item['id']}/resolve", json={"decision": "not_duplicate"})
    assert response.status_code == 200 and response.get_json()["status"] == "not_duplicate"
    for pid in (original, dup):
        body = client.get(f"/fhir/Patient/{pid}").get_json()
        body.pop("meta")
        body["telecom"] = body.get("telecom", []) + [{"system": "phone", "value": "0400 000 111"}]
        answer = client.put(f"/fhir/Patient/{pid}", data=json.dumps(body), content_type=FHIR_JSON,
                            headers=OUTCOME)
        assert answer.status_code == 200
        assert [i["severity"] for i in answer.get_json()["issue"]] == ["information"]
    assert _items(client) == []
    assert [i["status"] for i in _items(client, "all")] == ["not_duplicate"]
    assert client.get(f"/fhir/Patient/{dup}").get_json().get("active", True) is True


def test_a_dismissed_pair_comes_back_only_when_it_scores_higher(client):
    original, dup, item = _pair(client)
    assert client.post(f"/admin/review/{item['id']}/resolve", json={"decision": "dismissed"}).status_code == 200
    body = client.get(f"/fhir/Patient/{dup}").get_json()
    body.pop("meta")
    client.put(f"/fhir/Patient/{dup}", data=json.dumps(body), content_type=FHIR_JSON)
    assert _items(client) == []  # same score: stays dismissed
    body["name"] = [{"family": "Chalmers", "given": ["Peter", "James"]}]  # the typo corrected
    client.put(f"/fhir/Patient/{dup}", data=json.dumps(body), content_type=FHIR_JSON)
    [back] = _items(client)
    assert back["score"] > item["score"] and back["id"] != item["id"]


def test_list_is_newest_first_and_paged(client):
    _create(client, patient())
    for n in range(3):
        _create(client, _near(f"MRN-30{n}", birthDate="1974-12-25"))
    page = client.get("/admin/review?count=2").get_json()
    ids = [i["id"] for i in page["items"]]
    assert page["total"] >= 3 and len(ids) == 2 and ids == sorted(ids, reverse=True)
    rest = client.get(f"/admin/review{page['next']}").get_json()["items"]
    assert rest and all(i["id"] < ids[-1] for i in rest)


def test_listing_is_audited_with_both_patients(client):
    original, dup, _item = _pair(client)
    client.get("/admin/review")
    events = client.get(f"/fhir/AuditEvent?entity=Patient/{original}&action=E").get_json()["entry"]
    searches = [e["resource"] for e in events if e["resource"]["subtype"][0]["code"] == "search-type"]
    assert searches and any(f"Patient/{dup}" in json.dumps(s) for s in searches)


@pytest.mark.parametrize("path, body, status", [
    ("/admin/review/999999", None, 404),
    ("/admin/review/999999/resolve", {"decision": "dismissed"}, 404),
    ("/admin/review/abc", None, 404),
    ("/admin/review?status=maybe", None, 400),
    ("/admin/review?count=0", None, 400),
    ("/admin/review?colour=red", None, 400),
    ("ITEM/resolve", {"decision": "merge-please"}, 400),
    ("ITEM/resolve", {"decision": "duplicate"}, 400),
    ("ITEM/resolve", {"decision": "duplicate", "survivor": "Patient/someone-else"}, 400),
    ("ITEM/resolve", {"decision": "not_duplicate", "survivor": "Patient/x"}, 400),
    ("ITEM/resolve", {"decision": "dismissed", "note": 5}, 400),
    ("ITEM/resolve", {"decision": "dismissed", "extra": 1}, 400),
    ("ITEM/resolve", ["dismissed"], 400),
])
def test_bad_requests_are_operation_outcomes_and_change_nothing(client, path, body, status):
    _o, _d, item = _pair(client)
    path = path.replace("ITEM", f"/admin/review/{item['id']}")
    response = client.get(path) if body is None else client.post(path, json=body)
    assert response.status_code == status
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert [i["status"] for i in _items(client, "all")] == ["open"]


def test_malformed_and_non_json_bodies(client):
    _o, _d, item = _pair(client)
    url = f"/admin/review/{item['id']}/resolve"
    assert client.post(url, data="{nope", content_type="application/json").status_code == 400
    assert client.post(url, data="decision=dismissed", content_type="text/plain").status_code == 415
    assert _items(client)[0]["status"] == "open"


def test_open_items_gauge(client):
    _pair(client)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "fhir_gateway_patient_reviews_open 1.0" in metrics


def test_cli_lists_shows_and_resolves(settings_overrides, client, monkeypatch, capsys):
    original, dup, item = _pair(client)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", settings_overrides["database_url"])
    monkeypatch.setenv("GATEWAY_DATA_DIR", settings_overrides["data_dir"])
    assert main(["review", "list"]) == 0
    assert [i["id"] for i in json.loads(capsys.readouterr().out)["items"]] == [item["id"]]
    assert main(["review", "show", str(item["id"])]) == 0
    assert json.loads(capsys.readouterr().out)["candidate"]["reference"] == f"Patient/{original}"
    assert main(["review", "resolve", str(item["id"]), "--decision", "duplicate",
                 "--survivor", f"Patient/{original}", "--note", "checked ID card"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["status"] == "duplicate" and resolved["resolvedBy"].startswith("fhir-gateway-cli/")
    assert main(["review", "resolve", str(item["id"]), "--decision", "dismissed"]) == 1
    assert "already resolved" in capsys.readouterr().err
    assert main(["review", "show", "999999"]) == 1
    assert client.get(f"/fhir/Patient/{dup}").get_json()["active"] is False


@pytest.fixture
def secured(settings_overrides):
    app = create_app(settings_from_mapping(dict(settings_overrides, auth="on")))
    yield app
    app.extensions["fhir_gateway"].db.dispose()


def test_only_integration_admin_reaches_the_queue(secured):
    client, auth = secured.test_client(), secured.extensions["fhir_gateway"].auth
    base = "http://gateway.test/fhir"
    admin = auth.issue("a", "integration_admin", "system/*.cruds", base)["access_token"]
    desk = auth.issue("d", "front_desk", "user/Patient.cruds", base)["access_token"]
    assert client.get("/admin/review").status_code == 401
    refused = client.get("/admin/review", headers={"Authorization": f"Bearer {desk}"})
    assert refused.status_code == 403 and refused.get_json()["resourceType"] == "OperationOutcome"
    assert client.post("/admin/review/1/resolve", json={"decision": "dismissed"},
                       headers={"Authorization": f"Bearer {desk}"}).status_code == 403
    listed = client.get("/admin/review", headers={"Authorization": f"Bearer {admin}"})
    assert listed.status_code == 200 and listed.get_json()["items"] == []


A04 = ("MSH|^~\\&|EHR|CLINIC|GW|GATEWAY|20261124080000||ADT^A04^ADT_A01|IN-7|P|2.5.1\r"
       "EVN|A04|20261124080000\rPID|1||MRN-9001^^^CLINIC^MR||Nguyen^Lihn||19990721|F|||"
       "12 Elm St^^Springfield^IL^62703||555-0103^PRN^PH\rPV1|1|N\r")


@pytest.fixture
def v2_world(settings_overrides):
    """The sandbox v2 EHR owns Patient (profile 1.3.0: A04/A08 out, A40 for merges) and feeds
    the gateway's MLLP listener."""
    from conformance.sandbox.v2_ehr import V2Ehr
    from gateway.services.inbound import InboundApplier
    from gateway.sync.inbound import InboundHandler
    from gateway.transports.mllp import MllpServer
    ehr = V2Ehr("127.0.0.1").start()
    app = create_app(settings_from_mapping(dict(settings_overrides, backends=[{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.3.0", "endpoint": ehr.mllp_url,
        "resources": ["Patient"], "options": {"read_timeout": 5, "assigning_authority": "CLINIC",
                                             "mrn_system": MRN}}])))
    container = app.extensions["fhir_gateway"]
    backend = container.settings.backends[1]
    listener = MllpServer("127.0.0.1", 0, InboundHandler(backend, container.profiles[backend.profile],
                                                         InboundApplier(container.fhir))).start()
    yield ehr, listener, app.test_client()
    listener.stop()
    ehr.stop()
    container.db.dispose()


def _feed(ehr, listener, message: str) -> dict:
    import urllib.request
    body = json.dumps({"host": "127.0.0.1", "port": listener.port, "message": [message]}).encode()
    request = urllib.request.Request(f"{ehr.http_url}/feed", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        reply = json.loads(response.read())
    return (reply["results"] if isinstance(reply, dict) and "results" in reply else reply)[0]


def _inbox(ehr) -> list[dict]:
    import urllib.request
    with urllib.request.urlopen(ehr.inbox_url, timeout=5) as response:
        return json.loads(response.read())


def test_an_inbound_adt_duplicate_is_queued_and_resolving_it_sends_a40(v2_world):
    ehr, listener, client = v2_world
    front_desk = _create(client, _unrelated()).get_json()["id"]  # Nguyen, Linh; MRN-7777
    assert _inbox(ehr)[-1]["type"].startswith("ADT^A04")
    from gateway.transports.mllp import MllpClient
    with MllpClient("127.0.0.1", ehr.mllp_port) as mllp:  # the EHR's own registration ...
        assert "|AA|" in mllp.send(A04)
    ack = _feed(ehr, listener, A04)  # ... of "Nguyen, Lihn" again, as MRN-9001, fed to us
    assert ack["ack_code"] == "AA", ack
    [item] = _items(client)
    inbound = item["patient"]["reference"].split("/")[1]
    assert item["candidate"]["reference"] == f"Patient/{front_desk}" and inbound != front_desk
    assert item["patient"]["mrn"]["value"] == "MRN-9001"
    resolved = client.post(f"/admin/review/{item['id']}/resolve", json={
        "decision": "duplicate", "survivor": f"Patient/{front_desk}"})
    assert resolved.status_code == 200, resolved.get_json()
    last = _inbox(ehr)[-1]
    assert last["type"].startswith("ADT^A40")
    segments = {line.split("|")[0]: line.split("|") for line in last["raw"].split("\r") if line}
    assert segments["PID"][3].split("^")[0] == "MRN-7777" and segments["MRG"][1].split("^")[0] == "MRN-9001"
    assert client.get(f"/fhir/Patient/{inbound}").get_json()["active"] is False


def test_a_merge_the_ehr_cannot_take_leaves_the_item_open(v2_world):
    ehr, _listener, client = v2_world
    original, dup, item = _pair(client)
    ehr.stop()
    response = client.post(f"/admin/review/{item['id']}/resolve", json={
        "decision": "duplicate", "survivor": f"Patient/{original}"})
    assert response.status_code == 503
    assert [i["status"] for i in _items(client, "all")] == ["open"]
    assert client.get(f"/fhir/Patient/{dup}").get_json().get("active") is True


def test_one_write_queues_at_most_match_max_reviews_items(settings_overrides):
    """The same person registered over and over: each write queues only its best pairs."""
    app = create_app(settings_from_mapping(dict(settings_overrides, match_max_reviews=2)))
    try:
        client = app.test_client()
        for n in range(6):
            assert _create(client, _near(f"MRN-30{n}")).status_code == 201
        last = _create(client, _near("MRN-399"), OUTCOME)
        warnings = [i for i in last.get_json()["issue"] if i["code"] == "duplicate"]
        assert len(warnings) == 2
        newest = last.headers["Location"].split("/Patient/")[1].split("/")[0]
        ref = f"Patient/{newest}"
        items = [i for i in _items(client) if ref in (i["patient"]["reference"], i["candidate"]["reference"])]
        assert len(items) == 2
    finally:
        app.extensions["fhir_gateway"].db.dispose()
