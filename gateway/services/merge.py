"""Patient $merge: one patient record found to be a duplicate of another is merged into it.

May import: gateway.errors, gateway.services.*, gateway.store (via interactions), stdlib.
Parameters follow the FHIR R5 Patient-merge operation (R4 has none): `source-patient` (the
duplicate, which is retired) and `target-patient` (the survivor), `preview` to see the result
without writing. The gateway never guesses: both patients must exist, differ, and neither may
already be merged away. In one transaction the survivor gets Patient.link `replaces` -> source,
the source becomes inactive with `replaced-by` -> survivor (R4 patient.html#links), and the
owning backend receives the merge in its dialect (HL7 v2 ADT^A40 with MRG-1 = the source's
MRN); if the backend refuses or cannot be reached, nothing changes locally. References from
other resources to the source are kept: the links say where the record went.
"""
from __future__ import annotations

import json

from gateway.errors import BadRequest, Unprocessable
from gateway.services.audit import Agent
from gateway.services.interactions import Interactions
from gateway.services.push import push_write
from gateway.services.validation import validate_resource


def _reference(parameters: object, name: str) -> str:
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise BadRequest("the $merge body must be a Parameters resource", expression=("Parameters",))
    found = [p for p in parameters.get("parameter", []) if isinstance(p, dict) and p.get("name") == name]
    if len(found) != 1:
        raise BadRequest(f"$merge needs exactly one parameter {name!r} (valueReference Patient/id)",
                         expression=(f"Parameters.parameter.where(name='{name}')",))
    reference = str((found[0].get("valueReference") or {}).get("reference", ""))
    parts = reference.split("/")
    if len(parts) != 2 or parts[0] != "Patient" or not parts[1]:
        raise BadRequest(f"{name} must be a valueReference to Patient/<id>, got {reference!r}",
                         expression=(f"Parameters.parameter.where(name='{name}').valueReference",))
    return parts[1]


def _preview(parameters: dict) -> bool:
    for p in parameters.get("parameter", []):
        if isinstance(p, dict) and p.get("name") == "preview":
            if not isinstance(p.get("valueBoolean"), bool):
                raise BadRequest("preview must be a valueBoolean")
            return p["valueBoolean"]
    return False


def _replaced_by(patient: dict) -> str | None:
    for link in patient.get("link", []):
        if link.get("type") == "replaced-by":
            return str(link.get("other", {}).get("reference", "?"))
    return None


def _linked(patient: dict, other: str, link_type: str, **changes) -> dict:
    out = {k: v for k, v in patient.items() if k != "meta"} | changes
    link = {"other": {"reference": f"Patient/{other}"}, "type": link_type}
    out["link"] = [item for item in patient.get("link", []) if item != link] + [link]
    return out


def merge_patients(service, parameters: object, *, base_url: str, agent: Agent) -> dict:
    """Run $merge; returns the R5-shaped output Parameters (outcome, result)."""
    source_id, target_id = _reference(parameters, "source-patient"), _reference(parameters, "target-patient")
    preview = _preview(parameters)
    if source_id == target_id:
        raise Unprocessable("source-patient and target-patient are the same Patient; nothing merged")
    refs = (f"Patient/{source_id}", f"Patient/{target_id}")
    with service.unit(agent, "operation", refs=refs, query="Patient/$merge") as (session, note):
        return merge_in(service, session, note, source_id, target_id, base_url, preview=preview)


def merge_in(service, session, note, source_id: str, target_id: str, base_url: str, *,
             preview: bool = False) -> dict:
    """The merge in the caller's unit of work (its session and AuditNote): $merge, and the
    duplicate review queue's `duplicate` decision, which records itself in the same unit."""
    ops = Interactions(session, service.clock(), base_url)  # local writes; one push below
    ops.after_write = service.notify.hooked(ops.after_write, session, ops.now)  # Subscriptions
    source = json.loads(ops.read("Patient", source_id).content)
    target = json.loads(ops.read("Patient", target_id).content)
    for label, patient in (("source-patient", source), ("target-patient", target)):
        if _replaced_by(patient):
            raise Unprocessable(f"{label} Patient/{patient['id']} was already merged into "
                                f"{_replaced_by(patient)}; nothing merged")
    survivor = validate_resource(_linked(target, source_id, "replaces"), "Patient")
    retired = validate_resource(_linked(source, target_id, "replaced-by", active=False), "Patient")
    if preview:
        note.status = 200
        return _output(survivor, "preview: nothing was written or sent")
    kept = ops.update(survivor, target_id).stored
    gone = ops.update(retired, source_id).stored
    # the owning backend hears one merge (ADT^A40), not two updates; a refusal rolls back
    # (never queued: staff merging two charts must see the EHR take it, or nothing change)
    push_write(session, service.delivery, "merge", json.loads(kept.content), ops.now,
               service.rules, may_queue=False)
    note.resources += [json.loads(kept.content), json.loads(gone.content)]
    note.status = 200
    return _output(json.loads(kept.content), f"Patient/{source_id} merged into Patient/{target_id}")


def _output(result: dict, text: str) -> dict:
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "information", "code": "informational", "diagnostics": text}]}
    return {"resourceType": "Parameters", "parameter": [{"name": "outcome", "resource": outcome},
                                                        {"name": "result", "resource": result}]}
