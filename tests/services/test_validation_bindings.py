"""Required bindings (R4 terminologies.html#required): codes are checked against the R4 value
sets, read from the StructureDefinition snapshots, or against the models' enum_values for
datatypes; grammars for the value sets that cannot be listed."""
from __future__ import annotations

import json

import pytest
from fhir.resources.R4B import get_fhir_model_class

from gateway.fhirdefs import DATA
from gateway.services.validation import SUPPORTED_TYPES, validate_resource
from gateway.services.valuesets import fields, required_bindings, value_set_codes


def _all_bindings():
    return [(rtype, path, binding) for rtype in sorted(SUPPORTED_TYPES)
            for path, binding in required_bindings(rtype).items()]


def _field_at(path: str):
    owner, *steps, name = path.split(".")
    for step in steps:
        owner = fields(owner)[step].model
    return fields(owner)[name]


def _body_with(path: str, value: object) -> dict:
    """A minimal resource holding `value` at the element `path` (lists where the element repeats)."""
    rtype, *steps = path.split(".")
    body: dict = {"resourceType": rtype}
    node, owner = body, rtype
    for i, step in enumerate(steps):
        spec = fields(owner)[step]
        child = value if i == len(steps) - 1 else {}
        node[step] = [child] if spec.is_list else child
        node, owner = child, spec.model
    return body


def _issue_paths(body) -> dict[str, str]:
    try:
        validate_resource(body)
    except Exception as exc:  # noqa: BLE001 - InvalidResource expected; anything else fails below
        return {e: i.code for i in exc.issues for e in i.expression}
    return {}


def _expression(path: str) -> str:
    """'Patient.contact.gender' -> 'Patient.contact[0].gender' (repeating elements get [0])."""
    rtype, *steps = path.split(".")
    out, owner = rtype, rtype
    for i, step in enumerate(steps):
        spec = fields(owner)[step]
        out += f".{step}" + ("[0]" if spec.is_list else "")
        owner = spec.model
    return out


def test_gender_m_is_refused_at_patient_gender(rejects):
    error = rejects({"resourceType": "Patient", "gender": "M"}, "Patient.gender")
    assert error.issues[0].code == "code-invalid"
    assert "male" in error.issues[0].diagnostics
    validate_resource({"resourceType": "Patient", "gender": "female"})


def test_every_required_binding_of_the_supported_types_is_checked():
    found = _all_bindings()
    assert len(found) >= 25  # Appointment.status ... Subscription.channel.payload
    for rtype, path, binding in found:
        spec = _field_at(path)
        assert spec.binding is not None, path
        assert spec.binding.codes or spec.binding.syntax, f"{path}: {binding.value_set} unchecked"


@pytest.mark.parametrize("rtype, path, binding", _all_bindings(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_resource_level_binding_refuses_a_foreign_code_and_takes_a_real_one(rtype, path, binding):
    spec = _field_at(path)
    bad = _issue_paths(_body_with(path, "no such code!"))
    assert bad.get(_expression(path)) == "code-invalid", bad
    good_code = sorted(spec.binding.codes)[0] if spec.binding.codes else {
        "mimetype": "application/pdf", "language": "en-US"}[spec.binding.syntax]
    assert _expression(path) not in _issue_paths(_body_with(path, good_code))


def test_resource_level_codes_come_from_the_shipped_r4_value_sets():
    # Where the value set is shipped, the codes are its CodeSystem's, not the model's.
    assert required_bindings("Patient")["Patient.gender"].codes == {"male", "female", "other", "unknown"}
    assert required_bindings("AuditEvent")["AuditEvent.outcome"].codes == {"0", "4", "8", "12"}
    assert required_bindings("AuditEvent")["AuditEvent.agent.network.type"].codes == {"1", "2", "3", "4", "5"}
    assert required_bindings("Binary")["Binary.contentType"].syntax == "mimetype"


def test_model_enum_values_agree_with_the_r4_code_systems():
    # Cross-check: wherever both exist, fhir.resources' enum_values equal the R4 value set.
    compared = 0
    for _rtype, path, binding in _all_bindings():
        owner, *steps, name = path.split(".")
        for step in steps:
            owner = fields(owner)[step].model
        extra = get_fhir_model_class(owner).model_fields[name].json_schema_extra or {}
        if binding.codes and extra.get("enum_values"):
            assert set(extra["enum_values"]) == binding.codes, path
            compared += 1
    assert compared >= 9


def test_value_sets_expand_their_whole_code_system():
    for path in DATA.glob("ValueSet-*.json"):
        url = json.loads(path.read_text())["url"]
        system = json.loads((DATA / path.name.replace("ValueSet-", "CodeSystem-")).read_text())
        assert value_set_codes(url) == {c["code"] for c in system["concept"]}, url
    assert value_set_codes("http://hl7.org/fhir/ValueSet/not-shipped") is None


@pytest.mark.parametrize("body, expression", [
    ({"resourceType": "Patient", "name": [{"use": "nick", "family": "x"}]}, "Patient.name[0].use"),
    ({"resourceType": "Patient", "telecom": [{"system": "cell", "value": "1"}]}, "Patient.telecom[0].system"),
    ({"resourceType": "Patient", "telecom": [{"use": "personal", "value": "1"}]}, "Patient.telecom[0].use"),
    ({"resourceType": "Patient", "identifier": [{"use": "primary", "value": "1"}]}, "Patient.identifier[0].use"),
    ({"resourceType": "Patient", "address": [{"use": "holiday", "city": "x"}]}, "Patient.address[0].use"),
    ({"resourceType": "Patient", "address": [{"type": "home", "city": "x"}]}, "Patient.address[0].type"),
    ({"resourceType": "Patient", "text": {"status": "done", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}},
     "Patient.text.status"),
    ({"resourceType": "Coverage", "costToBeneficiary": [{"valueQuantity": {"value": 1, "comparator": "~"}}]},
     "Coverage.costToBeneficiary[0].valueQuantity.comparator"),
    ({"resourceType": "Patient", "extension": [{"url": "http://example.org/wait",
                                                "valueDuration": {"value": 1, "comparator": "=<"}}]},
     "Patient.extension[0].valueDuration.comparator"),
    ({"resourceType": "Coverage", "costToBeneficiary": [{"valueMoney": {"value": 1, "currency": "dollars"}}]},
     "Coverage.costToBeneficiary[0].valueMoney.currency"),
    ({"resourceType": "Patient", "photo": [{"contentType": "jpeg"}]}, "Patient.photo[0].contentType"),
    ({"resourceType": "Patient", "language": "english please"}, "Patient.language"),
    ({"resourceType": "DocumentReference", "content": [{"attachment": {"contentType": "text"}}]},
     "DocumentReference.content[0].attachment.contentType"),
])
def test_datatype_bindings_and_grammars(rejects, body, expression):
    error = rejects(body, expression)
    assert error.issues[0].code == "code-invalid"


@pytest.mark.parametrize("body", [
    {"resourceType": "Patient", "name": [{"use": "maiden", "family": "x"}], "language": "en-US",
     "telecom": [{"system": "sms", "use": "mobile", "value": "1"}],
     "photo": [{"contentType": "image/jpeg; charset=binary"}], "address": [{"use": "billing", "type": "both"}]},
    {"resourceType": "Binary", "contentType": "application/fhir+json"},
    {"resourceType": "Patient", "extension": [{"url": "http://example.org/wait",
                                               "valueDuration": {"value": 1, "comparator": "<="}}]},
    {"resourceType": "Coverage", "status": "active", "beneficiary": {"reference": "Patient/1"},
     "payor": [{"display": "x"}], "costToBeneficiary": [{"valueMoney": {"value": 1, "currency": "EUR"}}]},
])
def test_valid_codes_and_grammars_pass(body):
    assert validate_resource(body) is body
