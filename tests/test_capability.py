"""The CapabilityStatement generator reads the active profiles and nothing else."""
from __future__ import annotations

import pytest

from gateway.capability import build_capability, served, supported_interactions
from gateway.settings import ConfigError, settings_from_mapping
from translators.profile import load_profiles
from translators.types import Profile, ResourceSupport


def _profile(key: str, dialect: str, resources: dict) -> Profile:
    pid, version = key.split("@")
    return Profile(pid, version, dialect, "2.5.1", "", {
        t: ResourceSupport(t, tuple(i), tuple(p)) for t, (i, p) in resources.items()})


def _profiles(**extra):
    profiles = dict(load_profiles())
    profiles.update(extra)
    return profiles


def test_local_only_advertises_the_local_profile():
    settings = settings_from_mapping({})
    cs = build_capability(settings, load_profiles(), "http://x/fhir", "1.0", "2026-01-01T00:00:00Z")
    patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert {i["code"] for i in patient["interaction"]} == {
        "read", "vread", "update", "delete", "history-instance", "history-type", "create", "search-type"}
    assert "local-store@1.4.0" in patient["documentation"]
    assert {p["name"] for p in patient["searchParam"]} >= {"family", "birthdate", "_id"}
    binary = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Binary")
    assert "searchParam" not in binary


def test_backend_owner_limits_writes_and_mirror_serves_reads():
    ehr = _profile("ehr-test@1.0.0", "hl7v2", {"Patient": (["create", "update"], ["identifier"])})
    settings = settings_from_mapping({"backends": [
        {"name": "ehr", "dialect": "hl7v2", "profile": "ehr-test@1.0.0", "resources": ["Patient"]}]})
    info = served(settings, _profiles(**{"ehr-test@1.0.0": ehr}))
    assert info["Patient"]["backend"] == "ehr"
    assert "delete" not in info["Patient"]["interactions"]
    assert {"create", "update", "read", "search-type"} <= info["Patient"]["interactions"]
    assert info["Appointment"]["backend"] == "local"
    enforced = supported_interactions(settings, _profiles(**{"ehr-test@1.0.0": ehr}))
    assert "delete" not in enforced["Patient"]


def test_profile_claiming_an_unimplemented_search_param_fails_at_start():
    liar = _profile("liar@1.0.0", "rest", {"Patient": (["read", "search-type"], ["shoe-size"])})
    settings = settings_from_mapping({"backends": [
        {"name": "v", "dialect": "rest", "profile": "liar@1.0.0", "resources": ["Patient"]}]})
    with pytest.raises(ConfigError, match="shoe-size"):
        served(settings, _profiles(**{"liar@1.0.0": liar}))


def test_pinned_profile_must_be_installed():
    settings = settings_from_mapping({"backends": [
        {"name": "v", "dialect": "rest", "profile": "ghost@9.9.9"}]})
    with pytest.raises(ConfigError, match="ghost@9.9.9"):
        served(settings, load_profiles())


def test_rev_includes_list_only_types_a_reference_can_point_at():
    """searchRevInclude follows the R4 SearchParameter targets: Coverage.payor can name an
    Organization, Patient or RelatedPerson, never a Practitioner."""
    settings = settings_from_mapping({})
    cs = build_capability(settings, load_profiles(), "http://x/fhir", "1.0", "2026-01-01T00:00:00Z")
    rev = {r["type"]: set(r.get("searchRevInclude", [])) for r in cs["rest"][0]["resource"]}
    assert "Coverage:payor" not in rev["Practitioner"] and "Coverage:subscriber" not in rev["Practitioner"]
    assert {"Appointment:practitioner", "DocumentReference:subject"} <= rev["Practitioner"]
    assert {"Coverage:payor", "Coverage:subscriber", "Appointment:patient"} <= rev["Patient"]


def _rest(profile: str, resources: list[str]) -> dict:
    return {"name": "ehr-rest", "dialect": "rest", "profile": profile, "endpoint": "http://127.0.0.1:9/api",
            "resources": resources, "options": {"api_key": "k"}}


ELIGIBILITY = {"CoverageEligibilityRequest", "CoverageEligibilityResponse"}


@pytest.mark.parametrize("backends, offered", [
    ([], False),  # the local store has no payer to ask: nothing is advertised
    ([_rest("sandbox-rest-intake@1.2.0", ["Coverage"])], False),  # the owner's profile cannot ask
    ([_rest("sandbox-rest-intake@1.4.0", ["Patient"])], False),  # it can, but does not own Coverage
    ([_rest("sandbox-rest-intake@1.4.0", ["Coverage"])], True),
], ids=["local-only", "rest-1.2.0", "rest-1.4.0-without-coverage", "rest-1.4.0-owning-coverage"])
def test_eligibility_is_advertised_only_where_the_coverage_owner_carries_it(backends, offered):
    settings = settings_from_mapping({"backends": backends})
    cs = build_capability(settings, load_profiles(), "http://x/fhir", "1.0", "2026-01-01T00:00:00Z")
    by_type = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert (ELIGIBILITY <= set(by_type)) is offered and (ELIGIBILITY & set(by_type) == set()) is (not offered)
    enforced = supported_interactions(settings, load_profiles())
    assert (("create" in enforced.get("CoverageEligibilityRequest", ())) is offered)
    if offered:
        response = by_type["CoverageEligibilityResponse"]
        assert {i["code"] for i in response["interaction"]} == {"read", "vread", "history-instance", "search-type"}
        assert response["conditionalCreate"] is False and response["updateCreate"] is False
        assert "CoverageEligibilityResponse:request" in by_type["CoverageEligibilityRequest"]["searchRevInclude"]
        assert "CoverageEligibilityRequest:patient" in by_type["Patient"]["searchRevInclude"]


def test_an_eligibility_type_cannot_be_given_to_a_backend_of_its_own():
    settings = settings_from_mapping({"backends": [
        _rest("sandbox-rest-intake@1.4.0", ["Coverage", "CoverageEligibilityRequest"])]})
    with pytest.raises(ConfigError, match="served by the backend that owns Coverage"):
        served(settings, load_profiles())
