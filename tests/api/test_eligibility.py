"""Insurance eligibility end to end: the gateway asks the sandbox vendor REST EHR (a real server
on a loopback socket, OAuth2 client credentials) through sandbox-rest-intake@1.4.0, on SQLite
and PostgreSQL. In-force and lapsed coverage, an unknown member (the vendor's answer, stored as
outcome error), the vendor down, throttled or refusing (nothing stored), bad requests, the
read-only response, conditional create, Bundles, roles and the audit trail."""
from __future__ import annotations

import json
import urllib.request

import pytest

from conformance.sandbox.rest_ehr import RestEhr
from fhir_data import FHIR_JSON, coverage, patient
from gateway.app import create_app
from gateway.settings import settings_from_mapping
from gateway.transports.http import OAuth2ClientCredentials, VendorHttpClient

pytestmark = pytest.mark.live

REQUEST, RESPONSE = "CoverageEligibilityRequest", "CoverageEligibilityResponse"
CATEGORY = "http://terminology.hl7.org/CodeSystem/ex-benefitcategory"
MRN = "urn:oid:2.16.840.1.113883.3.72.5.9.1"


@pytest.fixture
def vendor():
    sandbox = RestEhr("127.0.0.1").start()
    yield sandbox
    sandbox.stop()


def _backend(vendor, profile: str = "sandbox-rest-intake@1.4.0") -> dict:
    return {"name": "ehr-rest", "dialect": "rest", "profile": profile, "endpoint": vendor.api_url,
            "resources": ["Coverage"],
            "options": {"token_url": vendor.token_url, "client_id": "sandbox-client",
                        "client_secret": "sandbox-secret", "mrn_system": MRN,
                        "connect_timeout": 1, "read_timeout": 1.5}}


@pytest.fixture
def app(vendor, settings_overrides):
    application = create_app(settings_from_mapping(dict(settings_overrides, backends=[_backend(vendor)])))
    yield application
    application.extensions["fhir_gateway"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def _post(client, rtype: str, body, **headers):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(f"/fhir/{rtype}", data=data, content_type=FHIR_JSON, headers=headers)


def _made(client, body) -> dict:
    response = _post(client, body["resourceType"], body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _insured(client, *, period=None, group="GRP-4410", member="ACME-778812", mrn="MRN-1001") -> tuple[str, str]:
    """A Patient (local store) and its Coverage (delivered to the vendor): their ids."""
    pid = _made(client, patient(identifier=[{"system": MRN, "value": mrn}]))["id"]
    body = coverage(pid, identifier=[{"system": "urn:example:payer", "value": member}],
                    **{"class": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                                                       "code": "group"}]}, "value": group}]})
    if period:
        body["period"] = period
    return pid, _made(client, body)["id"]


def check(pid: str, cid: str, **changes) -> dict:
    body = {"resourceType": REQUEST, "status": "active", "purpose": ["validation", "benefits"],
            "patient": {"reference": f"Patient/{pid}"}, "servicedDate": "2026-11-24",
            "created": "2026-11-24T08:55:00-06:00", "insurer": {"display": "Acme Health Plan"},
            "insurance": [{"coverage": {"reference": f"Coverage/{cid}"}}],
            "item": [{"category": {"coding": [{"system": CATEGORY, "code": "30"}]}},
                     {"category": {"coding": [{"system": CATEGORY, "code": "1"}]}}]}
    body.update(changes)
    return body


def _ids(client, query: str) -> list[str]:
    bundle = client.get(f"/fhir/{query}").get_json()
    assert bundle["resourceType"] == "Bundle", bundle
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _stored(client) -> tuple[int, int]:
    return (len(_ids(client, f"{REQUEST}?_count=100")), len(_ids(client, f"{RESPONSE}?_count=100")))


def _vendor_calls(vendor) -> list[dict]:
    with urllib.request.urlopen(f"{vendor.url}/_sandbox/requests", timeout=5) as response:
        return [r for r in json.loads(response.read()) if r["path"] == "/api/v1/eligibility"]


def _sandbox(vendor, path: str, body: dict) -> None:
    request = urllib.request.Request(f"{vendor.url}/_sandbox/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).read()


def _answer(client, created) -> dict:
    link = created.headers["Link"]
    assert link.startswith("<http://gateway.test/fhir/CoverageEligibilityResponse/") and link.endswith('>; rel="related"')
    path = link[1:link.index(">")].replace("http://gateway.test", "")
    response = client.get(path)
    assert response.status_code == 200
    return response.get_json()


def _benefits(answer: dict) -> dict:
    """(category, network, benefit type) -> allowed amount, from the response's items."""
    out = {}
    for item in answer["insurance"][0].get("item", []):
        key = (item["category"]["coding"][0]["code"], item.get("network", {}).get("coding", [{}])[0].get("code"))
        for benefit in item["benefit"]:
            allowed = benefit.get("allowedMoney") or {"value": benefit.get("allowedUnsignedInt"), "currency": "%"}
            out[key + (benefit["type"]["coding"][0]["code"],)] = (allowed["value"], allowed["currency"])
    return out


def test_in_force_coverage_answers_complete_with_benefits(client, vendor):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    created = _post(client, REQUEST, check(pid, cid))
    assert created.status_code == 201, created.get_json()
    request = created.get_json()
    assert request["resourceType"] == REQUEST and request["purpose"] == ["validation", "benefits"]
    assert created.headers["Location"].endswith(f"/{REQUEST}/{request['id']}/_history/1")
    answer = _answer(client, created)
    assert answer["request"] == {"reference": f"{REQUEST}/{request['id']}"}
    assert answer["meta"]["source"] == "urn:fhir-gateway:backend:ehr-rest#sandbox-rest-intake@1.4.0"
    assert answer["identifier"] == [{"value": "e-000001", "system": "urn:sandbox-rest-intake:eligibility"}]
    assert (answer["outcome"], answer["patient"], answer["servicedDate"]) == (
        "complete", {"reference": f"Patient/{pid}"}, "2026-11-24")
    assert answer["disposition"] == "Coverage is active on 2026-11-24"
    insurance = answer["insurance"][0]
    assert insurance["coverage"] == {"reference": f"Coverage/{cid}"} and insurance["inforce"] is True
    assert insurance["benefitPeriod"] == {"start": "2026-01-01", "end": "2026-12-31"}
    assert _benefits(answer) == {("30", "in", "deductible"): (1500, "USD"), ("30", "out", "deductible"): (3000, "USD"),
                                 ("1", "in", "copay"): (25, "USD"), ("1", "in", "copay-percent"): (20, "%")}
    [call] = _vendor_calls(vendor)  # one live call, with the vendor's own ids and fields
    assert call["body"] == {"patient_id": "p-000001", "member_id": "ACME-778812", "service_date": "2026-11-24",
                            "inquiry": ["eligibility", "benefits"], "service_types": ["30", "1"]}
    assert call["status"] == 200 and call["client_id"] == "sandbox-client"
    # the ways to find the answer: by request, patient, outcome, created; requests by patient, created
    rid, aid = request["id"], answer["id"]
    assert _ids(client, f"{RESPONSE}?request={REQUEST}/{rid}") == [aid]
    assert _ids(client, f"{RESPONSE}?patient=Patient/{pid}&outcome=complete&created=ge2026-01-01") == [aid]
    assert _ids(client, f"{RESPONSE}?outcome=error") == [] and _ids(client, f"{RESPONSE}?patient=Patient/x") == []
    assert _ids(client, f"{REQUEST}?patient={pid}&created=2026-11-24") == [rid]
    assert _ids(client, f"{REQUEST}?created=lt2026-11-24") == []
    included = client.get(f"/fhir/{RESPONSE}?request={REQUEST}/{rid}&_include={RESPONSE}:request").get_json()
    assert {e["resource"]["id"] for e in included["entry"]} == {rid, aid}
    # one AuditEvent for the create, naming both resources and the patient
    audit = client.get(f"/fhir/AuditEvent?entity={RESPONSE}/{aid}&action=C").get_json()
    assert audit["total"] == 1  # (its reads and searches above are audited as R and E)
    event = audit["entry"][0]["resource"]
    assert {e["what"]["reference"] for e in event["entity"]} == {f"{REQUEST}/{rid}", f"{RESPONSE}/{aid}"}
    assert event["action"] == "C" and event["outcome"] == "0"
    assert _ids(client, f"AuditEvent?patient={pid}&action=C")  # found by the patient too
    metrics = client.get("/metrics").get_data(as_text=True)
    assert ('fhir_gateway_backend_deliveries_total{backend="ehr-rest",interaction="eligibility",'
            'outcome="delivered"} 1.0') in metrics


def test_prefer_minimal_and_operation_outcome_still_point_at_the_answer(client, vendor):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    minimal = _post(client, REQUEST, check(pid, cid), Prefer="return=minimal")
    assert minimal.status_code == 201 and minimal.get_data() == b"" and minimal.headers["Link"]
    outcome = _post(client, REQUEST, check(pid, cid), Prefer="return=OperationOutcome")
    answer_id = outcome.headers["Link"].split(f"/{RESPONSE}/")[1].split(">")[0]
    assert outcome.get_json()["issue"][0]["diagnostics"] == f"Created; the answer is {RESPONSE}/{answer_id}"


def test_a_spent_backend_budget_is_503_before_anything_is_sent(vendor, settings_overrides):
    backend = _backend(vendor)
    backend["options"]["rate_limit"] = "2/minute"  # the Coverage write and one check
    application = create_app(settings_from_mapping(dict(settings_overrides, backends=[backend])))
    try:
        web = application.test_client()
        pid, cid = _insured(web, period={"start": "2026-01-01"})
        assert _post(web, REQUEST, check(pid, cid)).status_code == 201
        spent = _post(web, REQUEST, check(pid, cid))
        assert spent.status_code == 503 and int(spent.headers["Retry-After"]) >= 1
        assert "rate limit" in spent.get_json()["issue"][0]["diagnostics"]
        assert len(_vendor_calls(vendor)) == 1 and _stored(web) == (1, 1)
    finally:
        application.extensions["fhir_gateway"].db.dispose()


def test_lapsed_coverage_answers_complete_not_in_force(client, vendor):
    pid, cid = _insured(client, period={"start": "2025-01-01", "end": "2025-12-31"})
    created = _post(client, REQUEST, check(pid, cid))
    assert created.status_code == 201, created.get_json()
    answer = _answer(client, created)
    assert answer["outcome"] == "complete" and answer["insurance"][0]["inforce"] is False
    assert "benefitPeriod" not in answer["insurance"][0] and "item" not in answer["insurance"][0]
    assert answer["disposition"] == "Coverage is not active on 2026-11-24: the plan period is 2025-01-01 to 2025-12-31"
    # inside the period the same coverage is in force (the period is the vendor's record of it)
    again = _answer(client, _post(client, REQUEST, check(pid, cid, servicedDate="2025-06-30")))
    assert again["insurance"][0]["inforce"] is True and again["servicedDate"] == "2025-06-30"


def test_unknown_member_is_stored_as_an_error_answer(client, vendor):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    # the EHR's staff changed the member id on its record: it knows no member ACME-778812 now
    auth = OAuth2ClientCredentials(vendor.token_url, "sandbox-client", "sandbox-secret")
    with VendorHttpClient(vendor.api_url, auth=auth, timeout=(2, 2)) as ehr:
        ehr.request("PATCH", "patients/p-000001", json={"insurance_id": "ACME-000000"})
    created = _post(client, REQUEST, check(pid, cid))
    assert created.status_code == 201, created.get_json()
    answer = _answer(client, created)
    assert answer["outcome"] == "error" and "inforce" not in answer["insurance"][0]
    assert answer["error"] == [{"code": {
        "coding": [{"system": "urn:sandbox-rest-intake:eligibility-error", "code": "member_not_found"}],
        "text": "no member with this member_id on patient record p-000001"}}]
    assert _ids(client, f"{RESPONSE}?outcome=error") == [answer["id"]]
    assert _vendor_calls(vendor)[0]["status"] == 404


@pytest.mark.parametrize("fault", [None, "500", "timeout"], ids=["stopped", "http-500", "timeout"])
def test_vendor_down_is_503_and_nothing_is_stored(client, vendor, fault):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    if fault is None:
        vendor.stop()
    else:
        _sandbox(vendor, "faults", {"mode": fault, "count": 5, "delay": 3})
    response = _post(client, REQUEST, check(pid, cid))
    assert response.status_code == 503, response.get_json()
    assert int(response.headers["Retry-After"]) >= 1
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "transient"
    assert "nothing was stored" in outcome["issue"][0]["diagnostics"]
    assert _stored(client) == (0, 0)
    failed = client.get("/fhir/AuditEvent?action=C&outcome=8").get_json()  # the failed check is audited
    assert failed["total"] == 1
    assert ('fhir_gateway_backend_deliveries_total{backend="ehr-rest",interaction="eligibility",'
            'outcome="unavailable"} 1.0') in client.get("/metrics").get_data(as_text=True)


def test_vendor_429_is_503_with_its_retry_after_and_nothing_is_stored(client, vendor):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    _sandbox(vendor, "faults", {"mode": "429", "count": 1, "delay": 7})
    response = _post(client, REQUEST, check(pid, cid))
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert _stored(client) == (0, 0)
    assert _post(client, REQUEST, check(pid, cid)).status_code == 201  # the next try is answered


def test_vendor_refusing_the_call_is_422_and_nothing_is_stored(client, vendor):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    # a Coverage without a member id: the vendor refuses the call (missing_field), which is not
    # an answer about the member, so there is nothing to keep
    other = _made(client, patient(identifier=[{"system": MRN, "value": "MRN-2002"}]))["id"]
    bare = coverage(other)
    bare.pop("identifier")
    bare_id = _made(client, bare)["id"]
    refused = _post(client, REQUEST, check(other, bare_id))
    assert refused.status_code == 422
    assert "missing_field" in refused.get_json()["issue"][0]["diagnostics"]
    # a purpose the vendor does not offer is refused before anything is sent
    unsupported = _post(client, REQUEST, check(pid, cid, purpose=["auth-requirements"]))
    assert unsupported.status_code == 422 and "purpose" in unsupported.get_json()["issue"][0]["diagnostics"]
    assert _stored(client) == (0, 0) and len(_vendor_calls(vendor)) == 1


def test_patient_coverage_mismatch_is_422(client, vendor):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    other = _made(client, patient(identifier=[{"system": MRN, "value": "MRN-2002"}], name=[{"family": "Other"}]))["id"]
    response = _post(client, REQUEST, check(other, cid))
    assert response.status_code == 422
    issue = response.get_json()["issue"][0]
    assert f"Coverage/{cid} is not the coverage of Patient/{other}" in issue["diagnostics"]
    assert issue["expression"] == [f"{REQUEST}.insurance[0].coverage", f"{REQUEST}.patient"]
    assert _stored(client) == (0, 0) and _vendor_calls(vendor) == []


@pytest.mark.parametrize("changes, status, fragment", [
    ({"insurance": []}, 400, "must not be an empty array"),
    ({"insurance": None}, 422, "exactly one Coverage"),
    ({"insurance": [{"coverage": {"reference": "Coverage/no-such-coverage"}}]}, 422, "does not exist"),
    ({"insurance": [{"coverage": {"display": "the blue card"}}]}, 422, "literal reference to a Coverage"),
    ({"patient": {"reference": "Patient/no-such-patient"}}, 422, "does not exist"),
    ({"status": "draft"}, 422, "only an active"),
], ids=["empty-insurance", "no-insurance", "unknown-coverage", "coverage-by-display", "unknown-patient", "draft"])
def test_missing_or_unknown_coverage_or_patient_is_refused(client, vendor, changes, status, fragment):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    body = {k: v for k, v in check(pid, cid, **changes).items() if v is not None}
    response = _post(client, REQUEST, body)
    assert response.status_code == status, response.get_json()
    assert fragment in response.get_json()["issue"][0]["diagnostics"]
    assert _stored(client) == (0, 0) and _vendor_calls(vendor) == []


@pytest.mark.parametrize("body, fragment", [
    ('{"resourceType": "CoverageEligibilityRequest",', "not valid JSON"),
    (None, "not in the required value set"),  # purpose "coffee"
    ({"resourceType": REQUEST, "status": "active"}, "is required"),
    ({"resourceType": "Coverage", "status": "active"}, "resourceType"),
], ids=["malformed-json", "bad-purpose", "missing-required", "wrong-type"])
def test_invalid_fhir_is_400(client, vendor, body, fragment):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    response = _post(client, REQUEST, body if body is not None else check(pid, cid, purpose=["coffee"]))
    assert response.status_code == 400
    assert fragment in json.dumps(response.get_json())
    assert _stored(client) == (0, 0) and _vendor_calls(vendor) == []


def test_the_response_is_read_only_and_a_request_is_never_changed(client, vendor):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    created = _post(client, REQUEST, check(pid, cid))
    answer, request = _answer(client, created), created.get_json()
    forged = {k: v for k, v in answer.items() if k not in ("id", "meta")}
    assert _post(client, RESPONSE, forged).status_code == 405
    put = client.put(f"/fhir/{RESPONSE}/{answer['id']}", data=json.dumps(answer), content_type=FHIR_JSON)
    assert put.status_code == 405 and put.get_json()["issue"][0]["code"] == "not-supported"
    assert client.delete(f"/fhir/{RESPONSE}/{answer['id']}").status_code == 405
    assert client.put(f"/fhir/{REQUEST}/{request['id']}", data=json.dumps(request),
                      content_type=FHIR_JSON).status_code == 405
    assert client.delete(f"/fhir/{REQUEST}/{request['id']}").status_code == 405
    assert _stored(client) == (1, 1)
    assert client.get(f"/fhir/{RESPONSE}/{answer['id']}/_history").get_json()["total"] == 1


def test_if_none_exist_answers_the_stored_check_without_asking_again(client, vendor):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    body = check(pid, cid, identifier=[{"system": "urn:example:desk", "value": "CHK-42"}])
    first = _post(client, REQUEST, body, **{"If-None-Exist": "identifier=urn:example:desk|CHK-42"})
    second = _post(client, REQUEST, body, **{"If-None-Exist": "identifier=urn:example:desk|CHK-42"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["id"] == second.get_json()["id"] and first.headers["Link"] == second.headers["Link"]
    assert len(_vendor_calls(vendor)) == 1 and _stored(client) == (1, 1)


def test_a_check_is_not_taken_inside_a_bundle(client, vendor):
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    entry = {"resource": check(pid, cid), "request": {"method": "POST", "url": REQUEST}}
    transaction = client.post("/fhir", data=json.dumps({"resourceType": "Bundle", "type": "transaction",
                                                         "entry": [entry]}), content_type=FHIR_JSON)
    assert transaction.status_code == 405
    batch = client.post("/fhir", data=json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [entry]}),
                        content_type=FHIR_JSON).get_json()
    assert batch["entry"][0]["response"]["status"].startswith("405")
    assert _stored(client) == (0, 0) and _vendor_calls(vendor) == []


def test_capability_statement_lists_what_is_served(client):
    resources = {r["type"]: r for r in client.get("/fhir/metadata").get_json()["rest"][0]["resource"]}
    request, response = resources[REQUEST], resources[RESPONSE]
    assert [i["code"] for i in request["interaction"]] == ["read", "vread", "history-instance", "create", "search-type"]
    assert [i["code"] for i in response["interaction"]] == ["read", "vread", "history-instance", "search-type"]
    assert {p["name"] for p in request["searchParam"]} == {"_id", "_lastUpdated", "identifier", "patient", "created", "status"}
    assert {p["name"] for p in response["searchParam"]} == {"_id", "_lastUpdated", "identifier", "patient", "request",
                                                            "outcome", "created", "status"}
    assert "sandbox-rest-intake@1.4.0" in response["documentation"]
    assert f"{RESPONSE}:request" in request["searchRevInclude"]


@pytest.mark.parametrize("profile", ["sandbox-rest-intake@1.2.0", None], ids=["rest-1.2.0", "local-only"])
def test_without_eligibility_in_the_owner_profile_nothing_is_offered(vendor, settings_overrides, profile):
    backends = [_backend(vendor, profile)] if profile else []
    application = create_app(settings_from_mapping(dict(settings_overrides, backends=backends)))
    try:
        web = application.test_client()
        types = {r["type"] for r in web.get("/fhir/metadata").get_json()["rest"][0]["resource"]}
        assert "Coverage" in types and not types & {REQUEST, RESPONSE}
        pid = _made(web, patient())["id"]
        assert _post(web, REQUEST, check(pid, "any")).status_code == 404
        assert web.get(f"/fhir/{RESPONSE}").status_code == 404
    finally:
        application.extensions["fhir_gateway"].db.dispose()


@pytest.fixture
def live(vendor, settings_overrides):
    """The gateway with auth on, on a real loopback socket: (FHIR base URL, app)."""
    import threading

    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, None, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}/fhir"
    application = create_app(settings_from_mapping(dict(settings_overrides, auth="on", base_url=base,
                                                        backends=[_backend(vendor)])))
    server.app = application
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base, application
    server.shutdown()
    application.extensions["fhir_gateway"].db.dispose()


def test_roles_front_desk_and_billing_ask_clinicians_read_and_every_call_is_audited(live):
    import requests
    base, application = live
    auth = application.extensions["fhir_gateway"].auth

    def session(role: str) -> requests.Session:
        # every role asks for everything; its ceiling (gateway.auth.roles) decides what it gets
        client = auth.add_client(f"t-{role}", "user/*.cruds system/*.cruds", role)
        web = requests.Session()
        web.headers["Authorization"] = "Bearer " + auth.client_credentials(
            client["client_id"], client["client_secret"], None, base)["access_token"]
        web.headers["Content-Type"] = FHIR_JSON
        return web

    admin, desk, billing, clinician = (session(r) for r in ("integration_admin", "front_desk", "billing", "clinician"))
    pid = admin.post(f"{base}/Patient", json=patient(identifier=[{"system": MRN, "value": "MRN-7"}])).json()["id"]
    cov = coverage(pid, identifier=[{"system": "urn:example:payer", "value": "ACME-778812"}], period={"start": "2026-01-01"})
    cid = desk.post(f"{base}/Coverage", json=cov).json()["id"]
    asked = {}
    for name, web in (("front_desk", desk), ("billing", billing)):
        response = web.post(f"{base}/{REQUEST}", json=check(pid, cid))
        assert response.status_code == 201, (name, response.text)
        asked[name] = response.headers["Link"][1:].split(">")[0]
    assert clinician.post(f"{base}/{REQUEST}", json=check(pid, cid)).status_code == 403
    for web in (desk, billing, clinician):
        answer = web.get(asked["front_desk"])
        assert answer.status_code == 200 and answer.json()["insurance"][0]["inforce"] is True
        assert len(web.get(f"{base}/{RESPONSE}", params={"patient": f"Patient/{pid}"}).json()["entry"]) == 2
    forged = {k: v for k, v in answer.json().items() if k not in ("id", "meta")}
    assert desk.post(f"{base}/{RESPONSE}", json=forged).status_code == 403  # no role may write one
    assert admin.post(f"{base}/{RESPONSE}", json=forged).status_code == 405  # nor may anyone else
    # each check is audited with who asked; so are the refused attempts
    trail = admin.get(f"{base}/AuditEvent", params={"action": "C", "patient": pid, "_count": "50"}).json()
    who = [(e["resource"]["agent"][0]["role"][0]["text"], e["resource"]["outcome"]) for e in trail["entry"]
           if any(x.get("what", {}).get("reference", "").startswith(RESPONSE) for x in e["resource"].get("entity", []))]
    assert sorted(who) == [("billing", "0"), ("front_desk", "0")]
    refused = admin.get(f"{base}/AuditEvent", params={"action": "C", "outcome": "4", "_count": "50"}).json()
    assert refused["total"] >= 3  # the clinician's check and the two forged responses


def test_a_slow_vendor_holds_no_database_transaction(app, client, vendor):
    """The EHR is asked outside any transaction: while it thinks, other writes go through (on
    SQLite a write transaction would hold the one writer lock for the whole call)."""
    import threading
    import time
    pid, cid = _insured(client, period={"start": "2026-01-01"})
    _sandbox(vendor, "faults", {"mode": "timeout", "count": 1, "delay": 1.2})  # then a 504
    outcome = {}
    asking = threading.Thread(target=lambda: outcome.update(
        status=_post(app.test_client(), REQUEST, check(pid, cid)).status_code))
    asking.start()
    time.sleep(0.3)  # the check is waiting on the vendor now
    started = time.monotonic()
    _made(client, patient(identifier=[{"system": MRN, "value": "MRN-3003"}]))
    assert time.monotonic() - started < 0.6
    asking.join(5)
    assert outcome == {"status": 503} and _stored(client) == (0, 0)
