"""Every search parameter the gateway declares matches its R4 SearchParameter definition.

The definitions are the official R4 files copied into tests/data/fhir-r4-definitions (see its
SOURCES.md): code, type, canonical URL, base type and reference targets must agree.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gateway.resources import resource_types
from gateway.services.search.params import COMMON

DEFS = Path(__file__).resolve().parents[2] / "data" / "fhir-r4-definitions"
PROFILE = Path(__file__).resolve().parents[3] / "translators" / "profiles" / "local-store@1.4.0.yaml"


def _definitions() -> dict[str, dict]:
    found = {}
    for path in DEFS.glob("SearchParameter-*.json"):
        definition = json.loads(path.read_text())
        found[definition["url"]] = definition
    return found


DEFINITIONS = _definitions()
DECLARED = [(rtype.name, param) for rtype in resource_types().values()
            if rtype.name != "AuditEvent" for param in rtype.search_params]


@pytest.mark.parametrize("rtype,param", DECLARED, ids=[f"{t}-{p.code}" for t, p in DECLARED])
def test_declared_param_matches_its_r4_definition(rtype, param):
    definition = DEFINITIONS.get(param.definition)
    assert definition is not None, f"no definition file for {param.definition}"
    assert definition["code"] == param.code
    assert definition["type"] == param.type
    assert rtype in definition["base"]
    # every path's first element appears in the R4 FHIRPath expression for this type ("start~end"
    # widens Appointment.start to the range start..end: only its start is in the expression)
    expression = definition["expression"]
    for path in param.paths:
        element = path.split("~")[0].split(".")[0].split("[")[0]
        assert f"{rtype}.{element}" in expression
    if param.type == "reference":
        # declared, so that the CapabilityStatement's searchRevInclude lists only the types a
        # reference can really point at (a subset where the gateway narrows, e.g. patient)
        assert param.targets and set(param.targets) <= set(definition["target"])


@pytest.mark.parametrize("code", sorted(COMMON))
def test_common_params_match_resource_definitions(code):
    definition = DEFINITIONS[COMMON[code].definition]
    assert (definition["code"], definition["type"]) == (code, COMMON[code].type)
    assert "Resource" in definition["base"]


def test_every_param_the_local_store_profile_advertises_is_declared():
    profile = yaml.safe_load(PROFILE.read_text())
    types = resource_types()
    for rtype, spec in profile["resources"].items():
        if rtype == "AuditEvent":  # served by gateway.services.audit_search, not the index
            continue
        for code in spec.get("search_params", []):
            assert types[rtype].param(code) or code in COMMON, f"{rtype}?{code} is not implemented"


def test_compartment_links_are_reference_params_to_patient():
    # R4 compartmentdefinition-patient: the params that put a resource in a Patient's compartment
    expected = {"Appointment": {"actor"}, "DocumentReference": {"subject", "author"},
                "Coverage": {"policy-holder", "subscriber", "beneficiary", "payor"}}
    for name, links in expected.items():
        rtype = resource_types()[name]
        assert set(rtype.patient_compartment) == links
        for code in links:
            param = rtype.param(code)
            assert param.type == "reference" and (not param.targets or "Patient" in param.targets)
