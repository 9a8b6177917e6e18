"""Search through the HTTP API: GET and POST _search, handling=strict|lenient, paging links."""
from __future__ import annotations

import json

from fhir_data import FHIR_JSON, appointment, patient


def _make(client, body):
    return client.post(f"/fhir/{body['resourceType']}", data=json.dumps(body),
                       content_type=FHIR_JSON).get_json()


def test_get_and_post_search_agree(client):
    _make(client, patient())
    _make(client, patient(name=[{"family": "Smith", "given": ["Ann"]}]))
    got = client.get("/fhir/Patient?family=chalmers").get_json()
    posted = client.post("/fhir/Patient/_search", data={"family": "chalmers"}).get_json()
    assert got["total"] == posted["total"] == 1
    assert got["entry"][0]["resource"]["id"] == posted["entry"][0]["resource"]["id"]
    assert got["entry"][0]["fullUrl"].startswith("http://gateway.test/fhir/Patient/")


def test_post_search_needs_form_encoding(client):
    response = client.post("/fhir/Patient/_search", data="{}", content_type=FHIR_JSON)
    assert response.status_code == 415


def test_unknown_parameter_lenient_warns_strict_refuses(client):
    _make(client, patient())
    lenient = client.get("/fhir/Patient?shoe-size=9").get_json()
    outcomes = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert outcomes and outcomes[0]["resource"]["issue"][0]["severity"] == "warning"
    strict = client.get("/fhir/Patient?shoe-size=9", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert strict.get_json()["resourceType"] == "OperationOutcome"


def test_paging_links_walk_every_result_once(client):
    ids = {_make(client, patient())["id"] for _ in range(5)}
    seen, url = [], "/fhir/Patient?_count=2"
    while url:
        page = client.get(url).get_json()
        seen += [e["resource"]["id"] for e in page.get("entry", []) if e["search"]["mode"] == "match"]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        url = nxt[0].replace("http://gateway.test", "") if nxt else None
    assert sorted(seen) == sorted(ids)


def test_include_and_revinclude_through_api(client):
    pid = _make(client, patient())["id"]
    aid = _make(client, appointment(pid))["id"]
    inc = client.get("/fhir/Appointment?_include=Appointment:patient").get_json()
    modes = {(e["resource"]["resourceType"], e["search"]["mode"]) for e in inc["entry"]}
    assert modes == {("Appointment", "match"), ("Patient", "include")}
    rev = client.get(f"/fhir/Patient?_id={pid}&_revinclude=Appointment:patient").get_json()
    assert {e["resource"]["id"] for e in rev["entry"]} == {pid, aid}
