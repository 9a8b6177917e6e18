"""Inbound webhooks end to end over real sockets, on SQLite and PostgreSQL: a change made in
the sandbox vendor REST EHR (by its staff) is sent as a signed thin event, the gateway fetches
the record and merges it into its mirror, audited with the backend as agent; vendor-created
records become mirror resources with their backend id mapped; cancellations and deletions map
to the FHIR change; the gateway's own pushes never echo back as new versions; the sandbox's
retries carry a change across a gateway outage, and a vendor outage during the fetch is a 503
that the redelivery heals."""
from __future__ import annotations

import socket
import threading
import time

import pytest
from werkzeug.serving import make_server

from conformance.sandbox.rest_ehr import RestEhr
from ingest_world import MRN, World, backend_config, event

pytestmark = pytest.mark.live

PATIENT = {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "MRN-7"}],
           "name": [{"use": "official", "family": "Rivera", "given": ["Ana"]}], "gender": "female",
           "birthDate": "1985-03-14",
           "telecom": [{"system": "phone", "use": "home", "value": "555-0100"},
                       {"system": "phone", "use": "work", "value": "555-0199"}]}


@pytest.fixture
def vendor():
    with RestEhr("127.0.0.1") as ehr:
        yield ehr


@pytest.fixture
def settings_overrides(settings_overrides, vendor):
    return dict(settings_overrides, backends=[backend_config(vendor)])


@pytest.fixture
def world(vendor, live_gateway):
    base, app = live_gateway
    return World(vendor, base, app)


def _vendor_id(world: World, resource_type: str, local: str) -> str:
    [(vendor_id,)] = world.rows("SELECT backend_id FROM backend_ids WHERE backend = 'vendor' AND "
                                "resource_type = :t AND resource_id = :l", t=resource_type, l=local)
    return vendor_id


def _created(world: World, body: dict = PATIENT) -> tuple[str, str]:
    status, created, _ = world.fhir("POST", "Patient", body)
    assert status == 201, created
    return created["id"], _vendor_id(world, "Patient", created["id"])


def test_a_staff_edit_reaches_the_mirror_as_a_new_version(world):
    world.subscribe()
    pid, vendor_id = _created(world)
    world.settled(1)  # patient.created, made by the gateway's own client: recorded, ignored
    started = time.monotonic()
    world.staff("PATCH", f"patients/{vendor_id}", {"phone_home": "555-0111", "city": "Springfield"})
    deadline = time.monotonic() + 5
    while world.fhir("GET", f"Patient/{pid}")[1]["meta"]["versionId"] == "1":
        assert time.monotonic() < deadline, "the staff edit did not reach the mirror"
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    patient = world.fhir("GET", f"Patient/{pid}")[1]
    assert patient["meta"]["versionId"] == "2"
    assert {t["use"]: t["value"] for t in patient["telecom"]} == {"home": "555-0111", "work": "555-0199"}
    assert patient["address"] == [{"city": "Springfield"}]
    assert patient["name"][0]["use"] == "official"  # what the vendor does not map is kept
    assert elapsed < 3, f"{elapsed:.2f} s from the staff edit to the mirror"
    status, audit, _ = world.fhir("GET", f"AuditEvent?entity=Patient/{pid}&agent=backend:vendor")
    assert status == 200 and audit["total"] == 1
    agent = audit["entry"][0]["resource"]["agent"][0]
    assert agent["who"]["identifier"]["value"] == "backend:vendor" and agent["network"]["address"] == "127.0.0.1"
    rows = world.inbound()
    assert [(r[1], r[2]) for r in rows] == [("patient.created", "ignored"), ("patient.updated", "applied")]
    assert rows[1][4] == f"Patient/{pid}" and rows[0][0].startswith("evt_")


def test_a_patient_event_also_updates_the_coverage_kept_on_that_record(world):
    world.subscribe()
    pid, vendor_id = _created(world)
    coverage = {"resourceType": "Coverage", "status": "active", "beneficiary": {"reference": f"Patient/{pid}"},
                "payor": [{"display": "Acme Health"}], "identifier": [{"value": "ACME-1"}],
                "relationship": {"coding": [{"code": "self", "system":
                                             "http://terminology.hl7.org/CodeSystem/subscriber-relationship"}]}}
    status, created, _ = world.fhir("POST", "Coverage", coverage)
    assert status == 201, created
    world.settled(2)  # the gateway's own create and insurance patch: ignored
    world.staff("PATCH", f"patients/{vendor_id}", {"insurance_id": "ACME-2"})
    world.settled(3)
    held = world.fhir("GET", f"Coverage/{created['id']}")[1]
    assert held["identifier"] == [{"value": "ACME-2"}] and held["meta"]["versionId"] == "2"
    assert held["payor"] == [{"display": "Acme Health"}]
    assert world.fhir("GET", f"Patient/{pid}")[1]["meta"]["versionId"] == "1"
    row = world.inbound()[-1]
    assert row[2] == "applied" and row[3] == (f"patient.updated: Patient/{pid} unchanged, "
                                              f"Coverage/{created['id']} updated")


def test_records_created_in_the_vendor_become_mirror_resources(world):
    world.subscribe()
    record = world.staff("POST", "patients", {"chart_number": "MRN-50", "first_name": "Kofi",
                                              "last_name": "Mensah", "date_of_birth": "1990-02-03", "sex": "M"})
    booked = world.staff("POST", "appointments", {"patient_id": record["id"], "reason": "Check-up",
                                                  "start_time": "2026-12-10T09:00:00+00:00",
                                                  "end_time": "2026-12-10T09:30:00+00:00"})
    world.settled(2)
    pid, aid = world.local_id("Patient", record["id"]), world.local_id("Appointment", booked["id"])
    assert pid and aid
    patient = world.fhir("GET", f"Patient/{pid}")[1]
    assert patient["identifier"] == [{"system": MRN, "value": "MRN-50"}] and patient["gender"] == "male"
    appointment = world.fhir("GET", f"Appointment/{aid}")[1]
    assert appointment["status"] == "booked" and appointment["description"] == "Check-up"
    assert appointment["participant"][0]["actor"] == {"reference": f"Patient/{pid}"}
    world.staff("PATCH", f"appointments/{booked['id']}", {"status": "cancelled"})
    world.settled(3)
    cancelled = world.fhir("GET", f"Appointment/{aid}")[1]
    assert cancelled["status"] == "cancelled" and cancelled["meta"]["versionId"] == "2"
    # the patient is still referenced by the appointment: a vendor delete makes it inactive
    world.staff("DELETE", f"patients/{record['id']}")
    world.settled(4)
    assert world.fhir("GET", f"Patient/{pid}")[1]["active"] is False
    assert world.local_id("Patient", record["id"]) is None  # the vendor id is gone, so is the map
    world.staff("DELETE", f"appointments/{booked['id']}")
    world.settled(5)
    assert world.fhir("GET", f"Appointment/{aid}")[0] == 410  # deleted at the vendor: deleted here
    types = [(r[1], r[2]) for r in world.inbound()]
    assert types == [("patient.created", "applied"), ("appointment.booked", "applied"),
                     ("appointment.cancelled", "applied"), ("patient.deleted", "applied"),
                     ("appointment.deleted", "applied")]


def test_an_appointment_for_a_patient_the_gateway_never_saw_brings_the_patient_along(world):
    record = world.staff("POST", "patients", {"first_name": "Lena", "last_name": "Park",
                                              "date_of_birth": "1977-07-07"})
    world.subscribe()  # the patient was registered before the gateway subscribed
    booked = world.staff("POST", "appointments", {"patient_id": record["id"],
                                                  "start_time": "2026-12-11T09:00:00+00:00",
                                                  "end_time": "2026-12-11T09:20:00+00:00"})
    world.settled(1)
    pid = world.local_id("Patient", record["id"])
    assert pid and world.fhir("GET", f"Patient/{pid}")[1]["name"][0]["family"] == "Park"
    assert [r[2] for r in world.inbound()] == ["applied"], world.inbound()
    appointment = world.fhir("GET", f"Appointment/{world.local_id('Appointment', booked['id'])}")[1]
    assert appointment["participant"][0]["actor"] == {"reference": f"Patient/{pid}"}


def test_an_unreferenced_patient_deleted_at_the_vendor_is_deleted_here(world):
    world.subscribe()
    record = world.staff("POST", "patients", {"first_name": "Ole", "last_name": "Berg",
                                              "date_of_birth": "1960-01-01"})
    world.settled(1)
    pid = world.local_id("Patient", record["id"])
    world.staff("DELETE", f"patients/{record['id']}")
    world.settled(2)
    assert world.fhir("GET", f"Patient/{pid}")[0] == 410


def test_the_gateways_own_pushes_do_not_echo_back(world):
    world.subscribe()
    pid, vendor_id = _created(world)
    changed = dict(PATIENT, id=pid, birthDate="1985-03-15")
    assert world.fhir("PUT", f"Patient/{pid}", changed)[0] == 200
    world.settled(2)
    assert world.fhir("GET", f"Patient/{pid}")[1]["meta"]["versionId"] == "2"
    assert [r[2] for r in world.inbound()] == ["ignored", "ignored"]  # origin: the gateway's client
    # without an origin the gateway still recognises what it holds: no new version
    status, answer, headers = world.signed(event("patient.updated", vendor_id, "evt_no_origin"))
    assert status == 200 and headers["X-Ingest-Outcome"] == "unchanged", answer
    # a staff save that changes nothing is recognised the same way
    world.staff("PATCH", f"patients/{vendor_id}", {"phone_home": "555-0100"})
    world.settled(3)
    patient = world.fhir("GET", f"Patient/{pid}")[1]
    assert patient["meta"]["versionId"] == "2" and patient["birthDate"] == "1985-03-15"
    assert world.fhir("GET", f"Patient/{pid}/_history")[1]["total"] == 2


def test_a_redelivered_event_is_applied_once(world):
    record = world.staff("POST", "patients", {"first_name": "Ines", "last_name": "Duarte",
                                              "date_of_birth": "1999-09-09"})
    body = event("patient.created", record["id"], "evt_dup_1")
    first = world.signed(body)
    assert first[0] == 200 and first[2]["X-Ingest-Outcome"] == "applied"
    pid = world.local_id("Patient", record["id"])
    world.staff("PATCH", f"patients/{record['id']}", {"last_name": "Duarte-Silva"})  # no subscription
    again = world.signed(body)  # the same event id, signed anew: answered from its record
    assert again[0] == 200 and again[2]["X-Ingest-Outcome"] == "duplicate", again[1]
    assert world.fhir("GET", f"Patient/{pid}")[1]["meta"]["versionId"] == "1"
    assert len(world.inbound()) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_sandbox_retries_while_the_gateway_is_down(world):
    port = _free_port()  # nothing listens here yet: the gateway is "down"
    world.subscribe(f"http://127.0.0.1:{port}/ingest/vendor/events", retry_max=0.2)
    record = world.staff("POST", "patients", {"first_name": "Rui", "last_name": "Costa",
                                              "date_of_birth": "1980-08-08"})
    deadline = time.monotonic() + 10
    while len(world.deliveries()) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert all(d["status"] is None for d in world.deliveries())  # connection refused, kept
    assert world.local_id("Patient", record["id"]) is None
    server = make_server("127.0.0.1", port, world.app, threaded=True)  # the gateway is back
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        state = world.settled(1)
        assert state["delivered"] == 1 and state["failed"] == []
        assert world.local_id("Patient", record["id"]) is not None
    finally:
        server.shutdown()


def test_a_vendor_outage_during_the_fetch_is_a_503_healed_by_redelivery(world):
    record = world.staff("POST", "patients", {"first_name": "Mia", "last_name": "Kim",
                                              "date_of_birth": "2001-01-01"})
    world.fault(mode="500", count=1)
    status, answer, headers = world.signed(event("patient.created", record["id"], "evt_outage"))
    assert status == 503 and int(headers["Retry-After"]) > 0, answer
    assert world.local_id("Patient", record["id"]) is None
    assert [r[2] for r in world.inbound()] == ["failed"]
    world.subscribe()
    world.fault(mode="500", count=1)  # the sandbox's own delivery meets the outage too
    world.staff("PATCH", f"patients/{record['id']}", {"phone_mobile": "555-0123"})
    state = world.settled(1)
    assert state["delivered"] == 1 and [d["status"] for d in world.deliveries()] == [503, 200]
    pid = world.local_id("Patient", record["id"])
    assert world.fhir("GET", f"Patient/{pid}")[1]["telecom"] == [
        {"system": "phone", "use": "mobile", "value": "555-0123"}]
    redelivered = world.signed(event("patient.created", record["id"], "evt_outage"))
    assert redelivered[0] == 200  # the failed event is processed again: nothing left to change
    assert [r[2] for r in world.inbound()] == ["ignored", "applied"]


def test_an_event_that_cannot_be_applied_is_refused_and_not_retried_forever(world):
    world.subscribe()
    patient = world.staff("POST", "patients", {"first_name": "Zed", "last_name": "Null",
                                               "date_of_birth": "1970-01-01"})
    # the vendor allows a zero-minute slot; FHIR's minutesDuration is a positiveInt
    booked = world.staff("POST", "appointments", {"patient_id": patient["id"], "duration_minutes": 0,
                                                  "start_time": "2026-12-12T09:00:00+00:00",
                                                  "end_time": "2026-12-12T09:00:00+00:00"})
    state = world.settled(2)
    assert state["delivered"] == 1 and state["failed"][0]["last_status"] == 422
    assert state["failed"][0]["attempts"] == 3  # client errors: set aside after three tries
    row = world.inbound()[1]
    assert row[1:3] == ("appointment.booked", "refused") and "minutesDuration" in row[3]
    assert len(world.inbound()) == 2  # the redeliveries found the first record
    assert world.local_id("Appointment", booked["id"]) is None
