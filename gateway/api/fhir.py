"""The FHIR REST blueprint (base /fhir): generic interaction views for every resource type.

May import: flask, gateway.api.*, gateway.errors, gateway.services (via the app's container).
Each view: negotiate -> parse -> one service call -> respond. Routes are generic: a new
resource type needs no change here (house recipe).
"""
from __future__ import annotations

import base64
import json

from flask import Blueprint, Response, current_app, request

from gateway.api.negotiation import (binary_from_raw, is_json_content, json_body, prefer,
                                     response_format, wants_raw_binary)
from gateway.api.caller import caller
from gateway.api.responses import fhir_response, version_headers, write_response
from gateway.auth.access import current_access
from gateway.services.audit import Agent
from gateway.services.compartment import patients_of
from gateway.errors import (BadRequest, Forbidden, Issue, MethodNotAllowed, UnsupportedMediaType,
                            operation_outcome)
from gateway.services.duplicates import warning_issues
from gateway.services.merge import merge_patients
from gateway.services.patient_match_op import match_patients

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

_ID = "<string(maxlength=64):rid>"


def _container():
    return current_app.extensions["fhir_gateway"]


def _base_url() -> str:
    configured = _container().settings.base_url
    return configured.rstrip("/") if configured else request.host_url.rstrip("/") + "/fhir"


def _agent() -> Agent:
    return caller()


def _delivery(result) -> tuple[list[Issue], dict[str, str]]:
    """What the response says of the write's delivery to its backend EHR: an
    X-Delivery-Status header (delivered | queued) naming the outbox row, and, when it was
    queued, a warning issue in the OperationOutcome (the write is stored and will be sent)."""
    state = result.delivery
    if state is None:
        return [], {}
    headers = {"X-Delivery-Status": f"{state.state}; backend={state.backend}; outbox={state.outbox_id}"}
    if state.state == "delivered":
        return [], headers
    return [Issue("warning", "transient", f"Stored; delivery to backend {state.backend} is "
                  f"{state.state} (outbox row {state.outbox_id}): {state.detail}")], headers


def _compartment(rtype: str, interaction: str) -> tuple[str, str] | None:
    access = current_access()
    patient = access.patient_compartment(rtype, interaction) if access else None
    return ("Patient", patient) if patient else None


def _confine_body(rtype: str, body, interaction: str) -> None:
    """A patient/-scoped token may only write into its patient's compartment; a write that
    lets its author read more (a Subscription's criteria type) needs that read too."""
    access = current_access()
    for read_type in _container().fhir.implied_reads(rtype, body) if access else ():
        access.authorize(read_type, "subscribe")
    compartment = _compartment(rtype, interaction)
    if compartment and isinstance(body, dict) and compartment[1] not in patients_of(
            dict(body, id=body.get("id", ""))):
        raise Forbidden(f"a patient/-scoped token may only write {rtype} resources of its patient")


def _confine(stored, interaction: str):
    """A patient/-scoped token may only see its patient's compartment (403 otherwise)."""
    access = current_access()
    if access is not None and access.is_own_identity(stored.resource_type, stored.id, interaction):
        return stored  # the fhirUser resource itself (SMART fhirUser scope)
    compartment = _compartment(stored.resource_type, interaction)
    if compartment and compartment[1] not in patients_of(json.loads(stored.content)):
        raise Forbidden(f"{stored.resource_type}/{stored.id} is outside the patient in context")
    return stored


def _handling() -> str:
    return prefer(request).get("handling", _container().settings.default_handling)


@bp.before_request
def _negotiate() -> None:
    # Binary reads may answer with raw bytes; everything else must be able to speak FHIR JSON.
    if not (request.view_args or {}).get("rtype") == "Binary":
        response_format(request)


@bp.get("/metadata")
def metadata() -> Response:
    mode = request.args.get("mode", "full")
    if mode not in ("full", "normative", "terminology"):
        raise BadRequest(f"mode must be full, normative or terminology, got {mode!r}")
    if mode == "terminology":
        raise BadRequest("mode=terminology (TerminologyCapabilities) is not supported")
    return fhir_response(_container().capability(_base_url()))


@bp.post("/")
@bp.post("")
def bundle() -> Response:
    access = current_access()
    return fhir_response(_container().bundles.process(
        json_body(request), _base_url(), agent=_agent(),
        authorize=access.authorize if access else None))


@bp.get("/<rtype>")
def search(rtype: str) -> Response:
    params = list(request.args.items(multi=True))
    return fhir_response(_container().fhir.search(rtype, params, base_url=_base_url(),
                                                  handling=_handling(), agent=_agent(),
                                                  compartment=_compartment(rtype, "search-type")))


@bp.post("/<rtype>/_search")
def search_post(rtype: str) -> Response:
    if request.mimetype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded")
    params = list(request.args.items(multi=True)) + list(request.form.items(multi=True))
    return fhir_response(_container().fhir.search(rtype, params, base_url=_base_url(),
                                                  handling=_handling(), agent=_agent(),
                                                  compartment=_compartment(rtype, "search-type")))


@bp.post("/Patient/$merge")
def patient_merge() -> Response:
    """Patient $merge (gateway.services.merge): integration_admin only (issue: only that role
    may merge patients), and only where the CapabilityStatement offers it."""
    access = current_access()
    if access is not None:
        access.require_role("integration_admin")
        access.authorize("Patient", "update")
        if access.patient_compartment("Patient", "update"):
            raise Forbidden("a patient/-scoped token may not merge patients")
    container = _container()
    if "merge" not in container.operations.get("Patient", ()):
        raise MethodNotAllowed("Patient $merge is not offered: the backend owning Patient cannot carry a merge")
    return fhir_response(merge_patients(container.fhir, json_body(request), base_url=_base_url(), agent=_agent()))


@bp.post("/Patient/$match")
def patient_match() -> Response:
    """Patient $match (R4 patient-operation-match.html; gateway.services.patient_match_op): for
    callers who may read Patients, but not a patient/-scoped one (it answers other patients)."""
    access = current_access()
    if access is not None:
        access.authorize("Patient", "read")
        if access.patient_compartment("Patient", "read"):
            raise Forbidden("a patient/-scoped token may not run $match: it answers other patients")
    container = _container()
    if "match" not in container.operations.get("Patient", ()):
        raise MethodNotAllowed("Patient $match is not offered by this deployment")
    return fhir_response(match_patients(container.fhir, json_body(request), base_url=_base_url(), agent=_agent()))


def _write_issues(rtype: str, interaction: str, result, text: str, more: list[Issue] = ()) -> list[Issue]:
    """The write's outcome: `text`, `more` (what became of the delivery), then a warning per
    possible duplicate the write queued for review."""
    confined = _compartment(rtype, interaction) is not None
    return ([Issue("information", "informational", text)] + list(more)
            + warning_issues(result.duplicates, disclose=not confined))


@bp.post("/<rtype>")
def create(rtype: str) -> Response:
    body = binary_from_raw(request) if rtype == "Binary" and not is_json_content(request) else json_body(request)
    _confine_body(rtype, body, "create")
    result = _container().fhir.create(rtype, body, base_url=_base_url(),
                                      if_none_exist=request.headers.get("If-None-Exist"),
                                      agent=_agent())
    status = 201 if result.created else 200
    text = "Created" if result.created else "A resource matching If-None-Exist already exists"
    issues, headers = _delivery(result)
    if result.related is not None:  # the answer to an eligibility check: where to read it now
        related = f"{_base_url()}/{result.related.resource_type}/{result.related.id}"
        headers = dict(headers, Link=f'<{related}>; rel="related"')
        text += f"; the answer is {result.related.resource_type}/{result.related.id}"
    outcome = operation_outcome(_write_issues(rtype, "create", result, text, issues))
    return write_response(result.stored, status, _base_url(), outcome, headers)


@bp.get(f"/<rtype>/{_ID}")
def read(rtype: str, rid: str) -> Response:
    stored = _container().fhir.read(rtype, rid, agent=_agent())
    return _resource_response(_confine(stored, "read"))


@bp.put(f"/<rtype>/{_ID}")
def update(rtype: str, rid: str) -> Response:
    body = binary_from_raw(request) if rtype == "Binary" and not is_json_content(request) else json_body(request)
    if rtype == "Binary" and isinstance(body, dict) and "id" not in body and not is_json_content(request):
        body["id"] = rid
    _confine_body(rtype, body, "update")
    result = _container().fhir.update(rtype, rid, body, base_url=_base_url(),
                                      if_match=request.headers.get("If-Match"), agent=_agent())
    status = 201 if result.created else 200
    issues, headers = _delivery(result)
    outcome = operation_outcome(_write_issues(rtype, "update", result, "Created" if result.created else "Updated", issues))
    return write_response(result.stored, status, _base_url(), outcome, headers)


@bp.delete(f"/<rtype>/{_ID}")
def delete(rtype: str, rid: str) -> Response:
    stored = _container().fhir.delete(rtype, rid, agent=_agent())
    text = f"Deleted {rtype}/{rid}" if stored else f"{rtype}/{rid} did not exist or was already deleted"
    headers = {"ETag": f'W/"{stored.version_id}"'} if stored else {}
    return fhir_response(operation_outcome([Issue("information", "informational", text)]), 200, headers)


@bp.get("/<rtype>/_history")
def history_type(rtype: str) -> Response:
    return fhir_response(_container().fhir.history(rtype, None, list(request.args.items(multi=True)),
                                                   base_url=_base_url(), agent=_agent()))


@bp.get(f"/<rtype>/{_ID}/_history")
def history_instance(rtype: str, rid: str) -> Response:
    return fhir_response(_container().fhir.history(rtype, rid, list(request.args.items(multi=True)),
                                                   base_url=_base_url(), agent=_agent()))


@bp.get(f"/<rtype>/{_ID}/_history/<vid>")
def vread(rtype: str, rid: str, vid: str) -> Response:
    return _resource_response(_confine(_container().fhir.vread(rtype, rid, vid, agent=_agent()), "vread"))


def _resource_response(stored) -> Response:
    headers = version_headers(stored)  # no Location on a read: the base URL is not needed
    if stored.resource_type == "Binary" and wants_raw_binary(request):
        binary = json.loads(stored.content)
        data = base64.b64decode(binary.get("data", ""))
        return fhir_response(data, 200, headers, mimetype=binary.get("contentType", "application/octet-stream"))
    return fhir_response(stored.content, 200, headers)
