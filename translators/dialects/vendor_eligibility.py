"""Coverage eligibility through a vendor REST API: a CoverageEligibilityRequest becomes the
vendor's eligibility call, and the vendor's answer a CoverageEligibilityResponse. Pure.

May import: stdlib, translators.*. A profile's `rest.eligibility` section holds:
  endpoint       {method, path}: the vendor's eligibility call (a JSON body, no placeholders)
  request        mapping lines as in `rest.mappings` (fhir, json, map, transform, ref, via),
                 plus `each: true`: every value at the FHIR path, sent as a JSON array
  response       a block read from the vendor's answer: `lines` {fhir, json, map?, transform?,
                 with?}, `constants` {fhir, value, with?} and `lists` {json, fhir, + a block of
                 their own}: one FHIR list item per item of the vendor's list, nested as deep as
                 the answer is. `with`: only when that other element has a value (read in order)
  error_answers  vendor error codes that are the answer to the question (an unknown member), not
                 a refusal of the call: read into an outcome `error` response whose error.code
                 carries the vendor's code in `error_system`
What every answer holds whatever the vendor (status, purpose, patient, created, request,
requestor, insurer, insurance.coverage, outcome) is filled in here from the request and the
context's clock (R4 coverageeligibilityresponse.html: the response names the request it
answers and repeats its patient, purpose, insurer and coverage).
"""
from __future__ import annotations

import copy
from datetime import timezone

from translators.dialects.vendor_json import (VendorRequest, all_values, pointer_get,
                                              pointer_set, render_line, rest_spec)
from translators.dialects.vendor_transforms import transform
from translators.paths import get_path, set_path
from translators.types import Profile, TranslateContext, TranslationError

REQUEST, RESPONSE = "CoverageEligibilityRequest", "CoverageEligibilityResponse"
# R4 CoverageEligibilityResponse element order: a stored answer reads like the spec's examples
_ORDER = ("resourceType", "id", "meta", "identifier", "status", "purpose", "patient",
          "servicedDate", "servicedPeriod", "created", "requestor", "request", "outcome",
          "disposition", "insurer", "insurance", "preAuthRef", "form", "error")


def eligibility_spec(profile: Profile) -> dict | None:
    """The profile's `rest.eligibility` section, or None when it carries no eligibility."""
    section = profile.data.get("rest") if profile.dialect == "rest" else None
    found = section.get("eligibility") if isinstance(section, dict) else None
    return found if isinstance(found, dict) else None


def _spec(profile: Profile) -> dict:
    spec = eligibility_spec(profile)
    if spec is None:
        raise TranslationError(profile.key, "profile has no rest.eligibility section")
    return spec


def render_request(profile: Profile, request: dict, ctx: TranslateContext) -> VendorRequest:
    """The vendor call asking about `request`; `ctx.backend_ids` holds the vendor ids of what
    it references (`ref` lines), `ctx.related` the referenced resources (`via` lines)."""
    spec, maps = _spec(profile), rest_spec(profile).get("value_maps", {})
    body: dict = {}
    for line in spec["request"]:
        if line.get("each"):
            _render_each(line, request, ctx, maps, body)
        else:
            render_line(line, request, ctx, maps, body)
    return VendorRequest(spec["endpoint"]["method"], spec["endpoint"]["path"], body)


def _render_each(line: dict, request: dict, ctx: TranslateContext, maps: dict, body: dict) -> None:
    values: list = []
    for value in all_values(request, line["fhir"]):
        if "map" in line:
            if value not in maps[line["map"]]:
                raise TranslationError(line["fhir"], f"{value!r} has no entry in value map {line['map']}")
            value = maps[line["map"]][value]
        if "transform" in line:
            value = transform(line["transform"])[0](value, ctx.options)
        if value not in values:
            values.append(value)
    if values:
        pointer_set(body, line["json"], values)


def read_answer(profile: Profile, request: dict, answer, ctx: TranslateContext) -> dict:
    """The CoverageEligibilityResponse (outcome complete) for the vendor's answer to `request`;
    TranslationError when the answer does not fit the profile."""
    spec = _spec(profile)
    if not isinstance(answer, dict):
        raise TranslationError("/", "the vendor's eligibility answer is not a JSON object")
    response = _envelope(request, ctx, "complete")
    reverse = {name: {v: k for k, v in table.items()}
               for name, table in rest_spec(profile).get("value_maps", {}).items()}
    _read_block(spec["response"], answer, response, reverse, dict(ctx.options))
    return _finished(response, request)


def answers_with_error(profile: Profile, code: str) -> bool:
    """Whether a vendor error code is the answer to the question (outcome error), not a refusal."""
    spec = eligibility_spec(profile)
    return spec is not None and code in spec.get("error_answers", ())


def error_answer(profile: Profile, request: dict, code: str, message: str,
                 ctx: TranslateContext) -> dict:
    """The CoverageEligibilityResponse (outcome error) for a vendor error that answers the
    question: its message as the disposition, its code as error.code (R4: "errors encountered
    during the processing of the request")."""
    spec = _spec(profile)
    response = _envelope(request, ctx, "error")
    if message:
        response["disposition"] = message
    concept: dict = {"coding": [{"system": spec["error_system"], "code": code}]}
    if message:
        concept["text"] = message
    response["error"] = [{"code": concept}]
    return _finished(response, request)


def _envelope(request: dict, ctx: TranslateContext, outcome: str) -> dict:
    for name in ("id", "purpose", "patient", "insurer"):
        if not request.get(name):
            raise TranslationError(f"{REQUEST}.{name}", "the request has none")
    response: dict = {"resourceType": RESPONSE, "status": "active",
                      "purpose": list(request["purpose"]), "patient": copy.deepcopy(request["patient"]),
                      "created": ctx.now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "request": {"reference": f"{REQUEST}/{request['id']}"}, "outcome": outcome,
                      "insurer": copy.deepcopy(request["insurer"])}
    if request.get("provider"):
        response["requestor"] = copy.deepcopy(request["provider"])
    coverage = get_path(request, "insurance[0].coverage")
    if coverage:
        response["insurance"] = [{"coverage": copy.deepcopy(coverage)}]
    return response


def _finished(response: dict, request: dict) -> dict:
    """The date the answer is for: the vendor's, else the one asked about; elements in R4 order."""
    if "servicedDate" not in response and "servicedPeriod" not in response:
        for name in ("servicedDate", "servicedPeriod"):
            if name in request:
                response[name] = copy.deepcopy(request[name])
    ordered = {k: response[k] for k in _ORDER if k in response}
    return ordered | {k: v for k, v in response.items() if k not in ordered}


def _read_block(block: dict, record: dict, target: dict, reverse: dict, options: dict) -> None:
    for line in block.get("lines", ()):
        if "with" in line and get_path(target, line["with"]) is None:
            continue
        value = _read_value(line, record, reverse, options)
        if value is not None:
            set_path(target, line["fhir"], value)
    for rule in block.get("lists", ()):
        items = pointer_get(record, rule["json"])
        if items is None:
            continue
        if not isinstance(items, list):
            raise TranslationError(rule["json"], "expected a JSON list there")
        for item in items:
            if not isinstance(item, dict):
                raise TranslationError(rule["json"], "an item of the list is not a JSON object")
            made: dict = {}
            _read_block(rule, item, made, reverse, options)
            if made:
                set_path(target, f"{rule['fhir']}[{_length(target, rule['fhir'])}]", made)
    for constant in block.get("constants", ()):
        if "with" in constant and get_path(target, constant["with"]) is None:
            continue
        if get_path(target, constant["fhir"]) is None:
            set_path(target, constant["fhir"], copy.deepcopy(constant["value"]))


def _length(target: dict, path: str) -> int:
    """How many items the FHIR list at `path` holds already (0 when it does not exist)."""
    parent, _dot, name = path.rpartition(".")
    holder = get_path(target, parent) if parent else target
    items = holder.get(name) if isinstance(holder, dict) else None
    return len(items) if isinstance(items, list) else 0


def _read_value(line: dict, record: dict, reverse: dict, options: dict):
    value = pointer_get(record, line["json"])
    if value is None or value == "":
        return None
    if isinstance(value, (dict, list)):
        raise TranslationError(line["json"], "expected a single value, got a JSON " + type(value).__name__)
    if "transform" in line:
        value = transform(line["transform"])[1](value, options)
    if "map" in line:
        table = reverse[line["map"]]
        if value not in table:
            raise TranslationError(line["json"], f"{value!r} has no entry in value map {line['map']}")
        value = table[value]
    return value
