"""The CapabilityStatement is generated and truthful: everything it advertises works.

Walks /fhir/metadata and exercises every advertised interaction and search parameter of every
resource type; a parameter advertised without an entry in SEARCH_CASES fails the test, so the
statement can never claim more than the suite proves. Two deployments: the local store alone,
and the sandbox vendor REST EHR (a real server on loopback) owning Coverage with
sandbox-rest-intake@1.4.0, which adds the eligibility types.
"""
from __future__ import annotations

import json

import pytest

from fhir_data import FHIR_JSON, appointment, binary, coverage, document_reference, patient
from gateway.app import create_app
from gateway.auth.launch import LaunchService
from gateway.settings import settings_from_mapping

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.72.5.9.1"
ELIGIBILITY = ("CoverageEligibilityRequest", "CoverageEligibilityResponse")


@pytest.fixture(params=["local-store", "ehr-rest-eligibility"])
def client(request, settings_overrides):
    """The gateway of one deployment (its vendor EHR, if any, started for the test)."""
    overrides, vendor = dict(settings_overrides), None
    if request.param == "ehr-rest-eligibility":
        from conformance.sandbox.rest_ehr import RestEhr
        vendor = RestEhr("127.0.0.1").start()
        overrides["backends"] = [{
            "name": "ehr-rest", "dialect": "rest", "profile": "sandbox-rest-intake@1.4.0",
            "endpoint": vendor.api_url, "resources": ["Coverage"],
            "options": {"token_url": vendor.token_url, "client_id": "sandbox-client",
                        "client_secret": "sandbox-secret", "mrn_system": MRN_SYSTEM}}]
    application = create_app(settings_from_mapping(overrides))
    try:
        yield application.test_client()
    finally:
        application.extensions["fhir_gateway"].db.dispose()
        if vendor is not None:
            vendor.stop()


def _advertised(client) -> dict[str, set[str]]:
    return {r["type"]: {i["code"] for i in r["interaction"]}
            for r in client.get("/fhir/metadata").get_json()["rest"][0]["resource"]}


def _eligibility(client, world: dict) -> None:
    """A check and its answer, where the deployment offers eligibility."""
    if "CoverageEligibilityRequest" not in _advertised(client):
        return
    request = _create(client, {
        "resourceType": "CoverageEligibilityRequest", "status": "active",
        "identifier": [{"system": "urn:example:desk", "value": "CHK-1"}],
        "purpose": ["validation", "benefits"], "patient": {"reference": f"Patient/{world['Patient']['id']}"},
        "servicedDate": "2026-11-24", "created": "2026-11-24T08:55:00-06:00",
        "insurer": {"display": "Acme Health"},
        "insurance": [{"coverage": {"reference": f"Coverage/{world['Coverage']['id']}"}}]})
    found = client.get(f"/fhir/CoverageEligibilityResponse?request=CoverageEligibilityRequest/{request['id']}")
    world["CoverageEligibilityRequest"] = request
    world["CoverageEligibilityResponse"] = found.get_json()["entry"][0]["resource"]


def _create(client, body):
    response = client.post(f"/fhir/{body['resourceType']}", data=json.dumps(body), content_type=FHIR_JSON)
    assert response.status_code == 201, response.data
    return response.get_json()


@pytest.fixture
def world(client):
    """One resource of each type, linked together, with values every search case relies on."""
    pat = _create(client, patient())
    appt = appointment(pat["id"])
    appt["participant"] += [{"actor": {"reference": "Practitioner/dr1"}, "status": "accepted"},
                            {"actor": {"reference": "Location/loc1"}, "status": "accepted"}]
    bin_ = _create(client, binary())
    created = client.get(f"/fhir/AuditEvent?entity=Patient/{pat['id']}&action=C").get_json()
    assert created["total"] == 1, "the Patient create was not audited exactly once"
    # Practitioners are the staff directory: written by the server when a staff user is added
    staff = LaunchService(client.application.extensions["fhir_gateway"].auth)
    practitioner = staff.add_user("dr.house", "a long password", "clinician", "Gregory House")
    world = {
        "Practitioner": client.get(f"/fhir/Practitioner/{practitioner}", headers={"Accept": FHIR_JSON}).get_json(),
        "AuditEvent": created["entry"][0]["resource"],
        "Patient": pat,
        "Appointment": _create(client, appt),
        "Coverage": _create(client, coverage(pat["id"], payor=[{"reference": "Organization/org1"}],
                                             policyHolder={"reference": "Organization/org1"})),
        "DocumentReference": _create(client, document_reference(pat["id"], bin_["id"])),
        "Binary": bin_,
        "Subscription": _create(client, {
            "resourceType": "Subscription", "status": "requested", "reason": "scheduling app",
            "criteria": "Appointment?status=booked",
            "channel": {"type": "rest-hook", "endpoint": "https://apps.example.org/hooks",
                        "payload": "application/fhir+json"}}),
    }
    _eligibility(client, world)
    return world


def search_cases(world) -> dict[str, dict[str, tuple[str, str]]]:
    """type -> param -> (value that matches the world's resource, value that does not)."""
    pid = world["Patient"]["id"]
    ref = (f"Patient/{pid}", "Patient/someone-else")
    common = lambda t: {"_id": (world.get(t, {}).get("id"), "no-such-id"),
                        "_lastUpdated": ("ge2000-01-01", "lt2000-01-01")}
    return {
        "Patient": common("Patient") | {
            "identifier": (f"{MRN_SYSTEM}|MRN-1001", f"{MRN_SYSTEM}|MRN-9"),
            "name": ("chalm", "zebra"), "family": ("Chalmers", "Smith"), "given": ("pet", "zed"),
            "birthdate": ("1974-12-25", "1975"), "gender": ("male", "female"),
            "phone": ("(03) 5555 6473", "000"), "email": ("peter.chalmers@example.org", "x@y.z"),
            "telecom": ("(03) 5555 6473", "111"), "address-postalcode": ("3999", "1234"),
        },
        "Appointment": common("Appointment") | {
            "identifier": ("urn:example:sched|APT-1", "urn:example:sched|APT-2"),
            "patient": ref, "actor": ("Practitioner/dr1", "Practitioner/dr2"),
            "practitioner": ("Practitioner/dr1", "Practitioner/dr2"),
            "location": ("Location/loc1", "Location/loc2"),
            # start is 09:00+10:00 = 23:00Z on the 9th: zoneless search dates are UTC days
            "date": ("2026-12-09", "2026-12-10"),
            "status": ("booked", "cancelled"), "service-type": ("57", "58"),
        },
        "Coverage": common("Coverage") | {
            "identifier": ("12345", "54321"), "beneficiary": ref, "patient": ref,
            "payor": ("Organization/org1", "Organization/org2"), "subscriber": ref,
            "policy-holder": ("Organization/org1", "Organization/org2"),
            "status": ("active", "cancelled"), "type": ("EHCPOL", "PUBLICPOL"),
        },
        "DocumentReference": common("DocumentReference") | {
            "identifier": ("urn:example:docs|DOC-1", "urn:example:docs|DOC-2"), "patient": ref,
            "subject": ref, "type": ("http://loinc.org|64290-0", "http://loinc.org|1"),
            "category": ("intake", "other"), "date": ("2026-11-20", "2026-11-21"),
            "status": ("current", "superseded"),
        },
        "Practitioner": common("Practitioner") | {
            "family": ("House", "Wilson"), "given": ("greg", "james"),
        },
        "Subscription": common("Subscription") | {
            "status": ("active", "off"), "type": ("rest-hook", "websocket"),
            "url": ("https://apps.example.org/hooks", "https://apps.example.org/hooks/2"),
            "criteria": ("Appointment", "Patient"),
            "payload": ("application/fhir+json", "application/fhir+xml"),
        },
        "CoverageEligibilityRequest": common("CoverageEligibilityRequest") | {
            "identifier": ("urn:example:desk|CHK-1", "urn:example:desk|CHK-2"), "patient": ref,
            "created": ("2026-11-24", "2026-11-25"), "status": ("active", "cancelled"),
        },
        "CoverageEligibilityResponse": common("CoverageEligibilityResponse") | {
            "identifier": ("urn:sandbox-rest-intake:eligibility|e-000001",
                           "urn:sandbox-rest-intake:eligibility|e-000002"),
            "patient": ref, "outcome": ("complete", "error"), "status": ("active", "cancelled"),
            "request": (f"CoverageEligibilityRequest/{world.get('CoverageEligibilityRequest', {}).get('id')}",
                        "CoverageEligibilityRequest/another"),
            "created": ("ge2000-01-01", "lt2000-01-01"),  # the gateway's clock: any recent day
        },
        "AuditEvent": {
            "date": ("ge2000-01-01", "lt2000-01-01"), "agent": ("anonymous", "someone"),
            "entity": (f"Patient/{pid}", "Patient/someone-else"), "patient": (pid, "someone-else"),
            "action": ("C", "D"), "outcome": ("0", "8"),
        },
    }


def test_capability_statement_shape(client):
    cs = client.get("/fhir/metadata").get_json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1" and cs["kind"] == "instance"
    assert "json" in cs["format"]
    assert cs["software"]["name"] == "fhir-gateway"
    assert "local-store@1.4.0" in cs["implementation"]["description"]
    types = {r["type"] for r in cs["rest"][0]["resource"]}
    assert {"Patient", "Appointment", "Coverage", "DocumentReference", "Binary"} <= types
    assert client.get("/fhir/metadata?mode=full").get_json() == cs


def test_every_advertised_search_parameter_works(client, world):
    cs = client.get("/fhir/metadata").get_json()
    cases = search_cases(world)
    checked = 0
    for resource in cs["rest"][0]["resource"]:
        rtype = resource["type"]
        for param in resource.get("searchParam", []):
            name = param["name"]
            assert name in cases.get(rtype, {}), f"{rtype}?{name} is advertised but not exercised"
            hit, miss = cases[rtype][name]
            found = client.get(f"/fhir/{rtype}", query_string={name: hit, "_count": "500"}).get_json()
            assert found["resourceType"] == "Bundle", (rtype, name, found)
            ids = [e["resource"]["id"] for e in found.get("entry", [])]
            assert world[rtype]["id"] in ids, f"{rtype}?{name}={hit} did not find the resource"
            missed = client.get(f"/fhir/{rtype}", query_string={name: miss, "_count": "500"}).get_json()
            assert world[rtype]["id"] not in [e["resource"]["id"] for e in missed.get("entry", [])], \
                f"{rtype}?{name}={miss} matched a resource it should not"
            checked += 1
    assert checked >= 40


def test_every_advertised_interaction_works(client, world):
    cs = client.get("/fhir/metadata").get_json()
    codes_by_type = _advertised(client)
    for resource in cs["rest"][0]["resource"]:
        rtype = resource["type"]
        codes = {i["code"] for i in resource["interaction"]}
        current = world[rtype]
        rid = current["id"]
        if "read" in codes:
            assert client.get(f"/fhir/{rtype}/{rid}", headers={"Accept": FHIR_JSON}).status_code == 200
        if "vread" in codes:
            assert client.get(f"/fhir/{rtype}/{rid}/_history/1", headers={"Accept": FHIR_JSON}).status_code == 200
        if "search-type" in codes:
            assert client.get(f"/fhir/{rtype}").status_code == 200
        if "history-type" in codes:
            assert client.get(f"/fhir/{rtype}/_history").get_json()["type"] == "history"
        if "update" in codes:
            body = {k: v for k, v in current.items() if k != "meta"}
            response = client.put(f"/fhir/{rtype}/{rid}", data=json.dumps(body), content_type=FHIR_JSON)
            assert response.status_code == 200, (rtype, response.data)
        if "history-instance" in codes:
            history = client.get(f"/fhir/{rtype}/{rid}/_history").get_json()
            assert history["total"] >= 1
        if "create" in codes:
            body = {k: v for k, v in current.items() if k not in ("meta", "id")}
            if rtype == "Coverage" and "CoverageEligibilityRequest" in codes_by_type:
                # sandbox-rest-intake keeps ONE insurance on the patient record: a second
                # Coverage of the same beneficiary collides in the id map (a known defect of
                # the Coverage delivery, reported with this branch), so the copy insures another
                other = _create(client, patient(identifier=[{"system": MRN_SYSTEM, "value": "MRN-C2"}]))
                body = json.loads(json.dumps(body).replace(f"Patient/{world['Patient']['id']}",
                                                           f"Patient/{other['id']}"))
            assert client.post(f"/fhir/{rtype}", data=json.dumps(body), content_type=FHIR_JSON).status_code == 201
    # every advertised operation works (Patient $merge: two fresh Patients, one retired;
    # Patient $match: the stored Patient is found, graded)
    for resource in cs["rest"][0]["resource"]:
        for operation in resource.get("operation", []):
            assert (resource["type"], operation["name"]) in {("Patient", "merge"), ("Patient", "match")}, operation
            if operation["name"] == "match":
                probe = {k: v for k, v in world["Patient"].items() if k not in ("meta", "id")}
                found = client.post("/fhir/Patient/$match", content_type=FHIR_JSON, data=json.dumps({
                    "resourceType": "Parameters", "parameter": [{"name": "resource", "resource": probe}]}))
                assert found.status_code == 200, found.get_json()
                assert any(e["resource"]["id"] == world["Patient"]["id"] and e["search"]["score"] > 0.9
                           for e in found.get_json()["entry"])
                continue
            pair = [client.post("/fhir/Patient", data=json.dumps(patient(identifier=[
                {"system": MRN_SYSTEM, "value": f"MRN-M{i}"}])), content_type=FHIR_JSON).get_json()["id"]
                for i in range(2)]
            merged = client.post("/fhir/Patient/$merge", content_type=FHIR_JSON, data=json.dumps({
                "resourceType": "Parameters", "parameter": [
                    {"name": "source-patient", "valueReference": {"reference": f"Patient/{pair[0]}"}},
                    {"name": "target-patient", "valueReference": {"reference": f"Patient/{pair[1]}"}}]}))
            assert merged.status_code == 200, merged.get_json()
    # delete last, children before the Patient they point at (where delete is advertised)
    advertised = _advertised(client)
    children = ("DocumentReference", "Coverage", "Appointment", "Binary")
    for rtype in children:
        expected = 200 if "delete" in advertised[rtype] else 405
        assert client.delete(f"/fhir/{rtype}/{world[rtype]['id']}").status_code == expected, rtype
    for rtype in ("Appointment", "Coverage", "DocumentReference"):
        for extra in client.get(f"/fhir/{rtype}").get_json().get("entry", []):
            client.delete(f"/fhir/{rtype}/{extra['resource']['id']}")
    if all("delete" in advertised[t] for t in children) and not set(ELIGIBILITY) & set(advertised):
        assert client.delete(f"/fhir/Patient/{world['Patient']['id']}").status_code == 200
        assert client.get(f"/fhir/Patient/{world['Patient']['id']}").status_code == 410
    else:  # kept Coverages, checks and answers still name the Patient: referential integrity
        assert client.delete(f"/fhir/Patient/{world['Patient']['id']}").status_code == 409
