"""Webhook events and record merges with sandbox-rest-intake@1.3.0 (pure): the event envelope,
the fetch request, an element-by-element merge that keeps what the vendor does not map and
leaves no husks, and remove_path."""
from __future__ import annotations

import copy

import pytest

from translators.dialects import vendor_events, vendor_json, vendor_merge
from translators.paths import remove_path
from translators.profile import load_profiles
from translators.types import TranslationError

PROFILES = load_profiles()
PROFILE = PROFILES["sandbox-rest-intake@1.3.0"]
OPTIONS = {"mrn_system": "urn:oid:1.2.3"}
HELD = {"resourceType": "Patient", "id": "local-1", "active": True,
        "identifier": [{"system": "urn:oid:9.9", "value": "SSN-1"}, {"system": "urn:oid:1.2.3", "value": "MRN-1"}],
        "name": [{"use": "official", "family": "Rivera", "given": ["Ana", "Lucia"]}],
        "gender": "female", "birthDate": "1985-03-14",
        "telecom": [{"system": "phone", "use": "home", "value": "555-0100"},
                    {"system": "phone", "use": "work", "value": "555-0199"}]}
RECORD = {"id": "p-000001", "chart_number": "MRN-1", "first_name": "Ana", "middle_name": "Lucia",
          "last_name": "Rivera", "date_of_birth": "1985-03-14", "sex": "F", "phone_home": "555-0100"}


def _fresh(record: dict) -> dict:
    return vendor_json.read(PROFILE, "Patient", record, OPTIONS)


def test_the_event_envelope_is_read_by_the_profile():
    event = vendor_events.read_event(PROFILE, {"id": "evt_1", "type": "appointment.cancelled",
                                               "occurred_at": "2026-12-06T10:00:00Z",
                                               "resource": {"type": "appointment", "id": "a-000002"},
                                               "origin": {"client_id": "sandbox-client"}})
    assert (event.id, event.record_id, event.resource_type, event.change, event.origin) == \
        ("evt_1", "a-000002", "Appointment", "upsert", "sandbox-client")
    deleted = vendor_events.read_event(PROFILE, {"id": "e", "type": "patient.deleted", "resource": {"id": "p-1"}})
    assert (deleted.resource_type, deleted.change, deleted.origin, deleted.also) == ("Patient", "delete", None, ())
    updated = vendor_events.read_event(PROFILE, {"id": "e", "type": "patient.updated", "resource": {"id": "p-1"}})
    assert updated.also == ("Coverage",)  # the patient's record carries its insurance
    unknown = vendor_events.read_event(PROFILE, {"id": "e", "type": "invoice.paid", "resource": {"id": "i-1"}})
    assert unknown.resource_type is None


@pytest.mark.parametrize("body, problem", [
    ([], "not a JSON object"), ({"type": "t", "resource": {"id": "1"}}, "no id"),
    ({"id": "e", "resource": {"id": "1"}}, "no type"), ({"id": "e", "type": "t"}, "no record id"),
    ({"id": True, "type": "t", "resource": {"id": "1"}}, "must be a string"),
    ({"id": "e" * 256, "type": "t", "resource": {"id": "1"}}, "not a usable id"),
    ({"id": "e\n1", "type": "t", "resource": {"id": "1"}}, "not a usable id"),
])
def test_a_body_that_is_no_event_is_refused(body, problem):
    with pytest.raises(TranslationError, match=problem):
        vendor_events.read_event(PROFILE, body)


def test_the_fetch_request_quotes_the_vendor_id():
    request = vendor_events.read_request(PROFILE, "Patient", "p-000001")
    assert (request.method, request.path, request.json) == ("GET", "/patients/p-000001", None)
    assert vendor_events.read_request(PROFILE, "Appointment", "../../oauth/token?x=1").path == \
        "/appointments/..%2F..%2Foauth%2Ftoken%3Fx%3D1"
    with pytest.raises(TranslationError, match="no endpoint"):
        vendor_events.read_request(PROFILE, "Coverage", "p-1")


def test_profiles_without_events_say_so():
    assert vendor_events.events_spec(PROFILES["sandbox-rest-intake@1.2.0"]) is None
    assert vendor_events.events_spec(PROFILES["hl7v2-generic@2.5.1-1.2.0"]) is None
    with pytest.raises(TranslationError, match="no webhook events"):
        vendor_events.signature_rule(PROFILES["sandbox-rest-intake@1.2.0"])
    assert vendor_events.signature_rule(PROFILE) == {"header": "X-Sandbox-Signature",
                                                     "scheme": "t-v1-hmac-sha256"}


def test_a_record_that_says_what_is_held_merges_into_an_equal_resource():
    held = copy.deepcopy(HELD)
    assert vendor_merge.overlay(PROFILE, "Patient", held, _fresh(RECORD), OPTIONS) == HELD
    assert held == HELD  # the held resource itself is never changed


def test_only_mapped_elements_change_and_cleared_ones_leave_no_husk():
    changed = dict(RECORD, phone_home=None, phone_mobile="555-0123", middle_name=None,
                   chart_number="MRN-2", city="Springfield")
    merged = vendor_merge.overlay(PROFILE, "Patient", HELD, _fresh(changed), OPTIONS)
    assert merged["telecom"] == [{"system": "phone", "use": "work", "value": "555-0199"},
                                 {"system": "phone", "use": "mobile", "value": "555-0123"}]
    assert merged["name"] == [{"use": "official", "family": "Rivera", "given": ["Ana"]}]
    assert merged["identifier"] == [{"system": "urn:oid:9.9", "value": "SSN-1"},
                                    {"system": "urn:oid:1.2.3", "value": "MRN-2"}]
    assert merged["address"] == [{"city": "Springfield"}] and merged["active"] is True


def test_a_record_without_an_mrn_keeps_the_held_one():
    merged = vendor_merge.overlay(PROFILE, "Patient", HELD, _fresh(dict(RECORD, chart_number=None)), OPTIONS)
    assert merged["identifier"] == HELD["identifier"]


def test_appointment_defaults_fill_only_what_is_missing():
    record = {"id": "a-1", "patient_id": "p-1", "status": "cancelled", "start_time": "2026-12-01T15:00:00+00:00",
              "end_time": "2026-12-01T15:30:00+00:00"}
    fresh = vendor_json.read(PROFILE, "Appointment", record, OPTIONS, lambda t, v: "local-p")
    held = {"resourceType": "Appointment", "id": "x", "status": "booked", "comment": "kept",
            "participant": [{"actor": {"reference": "Patient/local-p"}, "status": "tentative"}],
            "start": "2026-12-01T15:00:00+00:00", "end": "2026-12-01T15:30:00+00:00"}
    merged = vendor_merge.overlay(PROFILE, "Appointment", held, fresh, OPTIONS)
    assert merged["status"] == "cancelled" and merged["comment"] == "kept"
    assert merged["participant"] == [{"actor": {"reference": "Patient/local-p"}, "status": "tentative"}]


@pytest.mark.parametrize("path, expected", [
    ("telecom[system=phone,use=home].value", {"telecom": [{"system": "phone", "use": "work", "value": "2"}]}),
    ("telecom[system=phone,use=fax].value", None),  # absent: nothing to do
    ("name[0].given[1]", {"name": [{"family": "F", "given": ["A"]}]}),
    ("name[0].family", {"name": [{"given": ["A", "B"]}]}),
    ("name[3].family", None),
    ("address[0].city", {}),  # the emptied address and its list go too
    ("birthDate", None),
])
def test_remove_path(path, expected):
    resource = {"name": [{"family": "F", "given": ["A", "B"]}], "address": [{"city": "C"}],
                "telecom": [{"system": "phone", "use": "home", "value": "1"},
                            {"system": "phone", "use": "work", "value": "2"}]}
    before = copy.deepcopy(resource)
    remove_path(resource, path)
    if expected is None:
        assert resource == before
    else:
        changed = {k: v for k, v in resource.items() if before.get(k) != v}
        assert changed == expected or (expected == {} and "address" not in resource)
