"""The eligibility translation of sandbox-rest-intake@1.4.0 (translators/dialects/
vendor_eligibility.py): golden pairs compared exactly (CoverageEligibilityRequest -> the vendor's
JSON call, the vendor's answer -> CoverageEligibilityResponse), and every way an input can fail
to fit, each a TranslationError naming where."""
from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from translators.cli_profiles import _golden_context
from translators.dialects import vendor_eligibility as eligibility
from translators.dialects import vendor_json
from translators.dialects.vendor_golden import _context
from translators.profile import load_profiles
from translators.types import TranslationError

PROFILES = load_profiles()
PROFILE = PROFILES["sandbox-rest-intake@1.4.0"]
GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "sandbox-rest-intake" / "1.4.0"
CASES = sorted(p.name[: -len(".request.json")] for p in GOLDEN.glob("eligibility-*.request.json"))


def _load(stem: str, kind: str):
    return json.loads((GOLDEN / f"{stem}.{kind}.json").read_text(encoding="utf-8"))


def _ctx(stem: str = "eligibility-inforce"):
    return _context(_golden_context(), GOLDEN / stem)


def test_the_golden_cases_cover_in_force_lapsed_a_period_and_an_unknown_member():
    assert CASES == ["eligibility-inforce", "eligibility-lapsed", "eligibility-period",
                     "eligibility-unknown-member"]


@pytest.mark.parametrize("stem", CASES)
def test_request_renders_exactly_the_golden_vendor_call(stem):
    call = eligibility.render_request(PROFILE, _load(stem, "request"), _ctx(stem))
    assert {"method": call.method, "path": call.path, "json": call.json} == _load(stem, "vendor")


@pytest.mark.parametrize("stem", CASES)
def test_answer_reads_exactly_as_the_golden_response(stem):
    request, answer = _load(stem, "request"), _load(stem, "answer")
    if answer["status"] < 400:
        got = eligibility.read_answer(PROFILE, request, answer["body"], _ctx(stem))
    else:
        code, message = vendor_json.error_of(PROFILE, answer["body"])
        assert eligibility.answers_with_error(PROFILE, code)
        got = eligibility.error_answer(PROFILE, request, code, message, _ctx(stem))
    expected = _load(stem, "response")
    assert got == expected
    assert list(got) == list(expected)  # R4 element order, as stored
    assert json.dumps(got) == json.dumps(expected)


def test_the_clock_comes_from_the_context_only():
    request, answer = _load("eligibility-inforce", "request"), _load("eligibility-inforce", "answer")["body"]
    first = eligibility.read_answer(PROFILE, request, answer, _ctx())
    assert eligibility.read_answer(PROFILE, request, answer, _ctx()) == first
    later = replace(_ctx(), now=datetime(2026, 11, 24, 7, 30, tzinfo=timezone(timedelta(hours=-6))))
    assert eligibility.read_answer(PROFILE, request, answer, later)["created"] == "2026-11-24T13:30:00Z"


def test_which_errors_are_answers():
    assert eligibility.answers_with_error(PROFILE, "member_not_found")
    assert not eligibility.answers_with_error(PROFILE, "missing_field")
    older = PROFILES["sandbox-rest-intake@1.2.0"]
    assert eligibility.eligibility_spec(older) is None and not eligibility.answers_with_error(older, "member_not_found")
    with pytest.raises(TranslationError, match="no rest.eligibility"):
        eligibility.render_request(older, _load("eligibility-inforce", "request"), _ctx())


def _request(**changes) -> dict:
    return copy.deepcopy(_load("eligibility-inforce", "request")) | changes


@pytest.mark.parametrize("request_, ctx_change, where", [
    (_request(purpose=["discovery"]), {}, "purpose"),
    (_request(servicedDate="2026-11"), {}, "2026-11"),
    (_request(insurance=[{"coverage": {"reference": "Coverage/unknown"}}]), {}, "insurance[0].coverage"),
    (_request(), {"backend_ids": {}}, "insurance[0].coverage"),
], ids=["unsupported-purpose", "partial-date", "coverage-not-at-vendor", "no-vendor-ids"])
def test_requests_that_do_not_fit_are_refused_naming_where(request_, ctx_change, where):
    with pytest.raises(TranslationError) as info:
        eligibility.render_request(PROFILE, request_, replace(_ctx(), **ctx_change))
    assert where in str(info.value)


def test_no_member_id_and_no_items_leave_those_fields_out():
    ctx = replace(_ctx(), related={})  # the Coverage itself is not at hand: no member_id to send
    call = eligibility.render_request(PROFILE, {k: v for k, v in _request().items() if k != "item"}, ctx)
    assert set(call.json) == {"patient_id", "service_date", "inquiry"}


def _answer(**changes) -> dict:
    return copy.deepcopy(_load("eligibility-inforce", "answer")["body"]) | changes


@pytest.mark.parametrize("answer, where", [
    ("not an object", "/"),
    (_answer(status="suspended"), "/status"),
    (_answer(benefit_period={"start": "01/01/2026"}), "01/01/2026"),
    (_answer(benefits={"30": {}}), "/benefits"),
    (_answer(benefits=["30"]), "/benefits"),
    (_answer(message={"text": "nested"}), "/message"),
    (_answer(benefits=[{"service_type": "1", "amounts": [{"type": "copay", "allowed": "twenty"}]}]), "twenty"),
    (_answer(benefits=[{"service_type": "1", "amounts": [{"type": "copay", "allowed": True}]}]), "True"),
    (_answer(benefits=[{"service_type": "1", "amounts": [{"type": "copay", "allowed": "NaN"}]}]), "NaN"),
    (_answer(benefits=[{"service_type": "1", "network": "maybe"}]), "/network"),
    (_answer(benefits=[{"service_type": "1", "amounts": [{"type": "refund"}]}]), "/type"),
], ids=["not-object", "unknown-status", "bad-date", "list-not-list", "item-not-object", "nested-value",
        "bad-amount", "boolean-amount", "nan-amount", "unknown-network", "unknown-benefit-type"])
def test_answers_that_do_not_fit_are_refused_naming_where(answer, where):
    with pytest.raises(TranslationError) as info:
        eligibility.read_answer(PROFILE, _request(), answer, _ctx())
    assert where in str(info.value)


def test_amounts_keep_their_value_and_a_bare_answer_still_names_its_request():
    got = eligibility.read_answer(PROFILE, _request(), {"status": "active", "benefits": [
        {"service_type": "1", "amounts": [{"type": "copay", "allowed": "12.50", "used": 5, "currency": "EUR"}]}]}, _ctx())
    [benefit] = got["insurance"][0]["item"][0]["benefit"]
    assert benefit["allowedMoney"] == {"value": 12.5, "currency": "EUR"}
    assert benefit["usedMoney"] == {"value": 5, "currency": "EUR"}
    assert "network" not in got["insurance"][0]["item"][0]  # `with`: no system without a code
    assert got["servicedDate"] == "2026-11-24"  # the vendor gave none: the date asked about
    assert (got["request"], got["outcome"], got["insurance"][0]["inforce"]) == (
        {"reference": "CoverageEligibilityRequest/cer-1"}, "complete", True)
    assert "identifier" not in got  # the answer carried no eligibility_id


def test_an_error_answer_without_a_message_has_a_bare_code():
    got = eligibility.error_answer(PROFILE, _request(), "member_not_found", "", _ctx())
    assert "disposition" not in got and got["error"] == [{"code": {"coding": [
        {"system": "urn:sandbox-rest-intake:eligibility-error", "code": "member_not_found"}]}}]


@pytest.mark.parametrize("missing", ["id", "purpose", "patient", "insurer"])
def test_a_request_lacking_what_the_answer_repeats_is_refused(missing):
    request = {k: v for k, v in _request().items() if k != missing}
    with pytest.raises(TranslationError, match=missing):
        eligibility.read_answer(PROFILE, request, _answer(), _ctx())
