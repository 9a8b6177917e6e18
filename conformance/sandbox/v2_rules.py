"""What the sandbox v2 EHR does with an ADT, SIU or MDM message: update its tables, or refuse.

May import: stdlib, python-hl7 (through er7) and the sibling sandbox modules.
Field positions follow HL7 v2.5.1: PID (3.4.2), MRG (3.4.9), SCH (10.6.2), TQ1 (4.5.4),
AIL (10.6.6), AIP (10.6.7). `apply()` raises Refused (AE or AR + Table 0357 code) or returns.
"""
from __future__ import annotations

import hl7

from conformance.sandbox.er7 import repetitions, value_in
from conformance.sandbox.v2_replies import Refusal
from conformance.sandbox.v2_store import V2Store

ADT_CREATE = {"A01", "A04", "A28"}  # admit / register / add person: create or update
ADT_UPDATE = {"A08", "A31"}  # update patient / person information: the patient must exist
SIU_EVENTS = {"S12": "Booked", "S13": None, "S14": None, "S15": "Cancelled", "S26": "Noshow"}
MDM_WITH_CONTENT = {"T02", "T08"}  # original / edited document, with its content (9.5.2, 9.5.8)


class Refused(Exception):
    """The message is refused: `ack_code` AE (may be retried) or AR (will not be accepted)."""

    def __init__(self, ack_code: str, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.ack_code, self.refusal = ack_code, refusal


def _segment(message: hl7.Message, name: str, required: bool = True):
    try:
        return message.segment(name)
    except KeyError:
        if required:
            raise Refused("AR", Refusal("100", f"{name} segment missing", f"{name}^1")) from None
        return None


def _null(value: str) -> str | None:
    # "" (two double quotes) is the HL7 null: delete the value (v2.5.1 section 2.5.3).
    return None if value == '""' else value


def patient_from_pid(pid) -> dict:
    """The patient columns a PID carries (empty fields are left out, "" clears a value)."""
    rep = 1
    for index in range(1, repetitions(pid, 3) + 1):
        if value_in(pid, 3, 5, 1, index) == "MR":  # CX-5 identifier type code, Table 0203
            rep = index
            break
    mrn = value_in(pid, 3, 1, 1, rep)
    if not mrn:
        raise Refused("AR", Refusal("101", "PID-3 patient identifier (MRN) is empty", "PID^1^3"))
    phone = value_in(pid, 13, 1) or (value_in(pid, 13, 6) + value_in(pid, 13, 7))
    values = {"mrn": mrn, "assigning_authority": value_in(pid, 3, 4, 1, rep),
              "family": value_in(pid, 5, 1), "given": value_in(pid, 5, 2),
              "middle": value_in(pid, 5, 3), "birth_date": value_in(pid, 7, 1)[:8],
              "sex": value_in(pid, 8), "street": value_in(pid, 11, 1),
              "city": value_in(pid, 11, 3), "state": value_in(pid, 11, 4),
              "zip": value_in(pid, 11, 5), "country": value_in(pid, 11, 6), "phone": phone}
    return {k: _null(v) for k, v in values.items() if v}


def apply(message: hl7.Message, message_code: str, trigger: str, control_id: str,
          store: V2Store) -> None:
    """Apply one ADT or SIU message to the store, or raise Refused."""
    if message_code == "ADT" and trigger in ADT_CREATE | ADT_UPDATE | {"A40"}:
        with store.transaction():
            _apply_adt(message, trigger, control_id, store)
    elif message_code == "SIU" and trigger in SIU_EVENTS:
        with store.transaction():
            _apply_siu(message, trigger, control_id, store)
    elif message_code == "MDM" and trigger in MDM_WITH_CONTENT:
        _check_document(message, store)
    elif message_code in ("ADT", "SIU", "MDM"):
        raise Refused("AR", Refusal("201", f"event {message_code}^{trigger} is not supported",
                                    "MSH^1^9^2"))
    else:
        raise Refused("AR", Refusal("200", f"message type {message_code} is not supported",
                                    "MSH^1^9^1"))


def _apply_adt(message: hl7.Message, trigger: str, control_id: str, store: V2Store) -> None:
    patient = patient_from_pid(_segment(message, "PID"))
    patient["last_control_id"] = control_id
    if trigger in ADT_UPDATE and store.patient(patient["mrn"]) is None:
        raise Refused("AE", Refusal("204", f"unknown patient: no patient with MRN {patient['mrn']}",
                                    "PID^1^3"))
    if trigger == "A40":
        _merge(message, patient, store)
    store.put_patient(patient)


def _merge(message: hl7.Message, survivor: dict, store: V2Store) -> None:
    """A40 merge patient (v2.5.1 3.3.40): MRG-1 is the prior MRN, PID-3 the surviving one."""
    prior = value_in(_segment(message, "MRG"), 1, 1)
    if not prior:
        raise Refused("AR", Refusal("101", "MRG-1 prior patient identifier is empty", "MRG^1^1"))
    if store.patient(prior) is None:
        raise Refused("AE", Refusal("204", f"unknown patient: no prior patient with MRN {prior}",
                                    "MRG^1^1"))
    if prior == survivor["mrn"]:
        raise Refused("AR", Refusal("205", "MRG-1 and PID-3 name the same patient", "MRG^1^1"))
    store.put_patient({"mrn": prior, "merged_into": survivor["mrn"]})
    for appointment in store.appointments():
        if appointment["patient_mrn"] == prior:
            store.put_appointment({"appointment_id": appointment["appointment_id"],
                                   "patient_mrn": survivor["mrn"]})


def _check_document(message: hl7.Message, store: V2Store) -> None:
    """MDM^T02/T08 (v2.5.1 9.6.1 TXA, 7.4.2 OBX): a known patient, a unique document number
    and at least one OBX with content. The document itself stays in the message inbox."""
    mrn = patient_from_pid(_segment(message, "PID"))["mrn"]
    if store.patient(mrn) is None:
        raise Refused("AE", Refusal("204", f"unknown patient: no patient with MRN {mrn}", "PID^1^3"))
    if not value_in(_segment(message, "TXA"), 12, 1):
        raise Refused("AR", Refusal("101", "TXA-12 unique document number is empty", "TXA^1^12"))
    obx = _segment(message, "OBX")
    if not value_in(obx, 5, 1) and not value_in(obx, 5, 5):
        raise Refused("AR", Refusal("101", "OBX-5 carries no document content", "OBX^1^5"))


def _appointment_from_siu(message: hl7.Message) -> dict:
    sch = _segment(message, "SCH")
    appointment_id = value_in(sch, 1, 1) or value_in(sch, 2, 1)
    if not appointment_id:
        raise Refused("AR", Refusal("101", "SCH-1 and SCH-2 appointment ids are both empty",
                                    "SCH^1^1"))
    tq1, ail, aip = (_segment(message, n, required=False) for n in ("TQ1", "AIL", "AIP"))
    # Start/end: TQ1-7/TQ1-8 from v2.5 on; SCH-11.4/.5 (TQ) in v2.3/v2.4.
    start = (value_in(tq1, 7, 1) if tq1 else "") or value_in(sch, 11, 4)
    end = (value_in(tq1, 8, 1) if tq1 else "") or value_in(sch, 11, 5)
    provider = " ".join(p for p in (value_in(aip, 3, 3), value_in(aip, 3, 2)) if p) if aip else ""
    values = {"appointment_id": appointment_id, "filler_id": value_in(sch, 2, 1),
              "start": start, "end": end, "duration": value_in(sch, 9),
              "duration_units": value_in(sch, 10, 1),
              "reason": value_in(sch, 7, 2) or value_in(sch, 7, 1),
              "appointment_type": value_in(sch, 8, 1), "status": value_in(sch, 25, 1),
              "location": value_in(ail, 3, 1) if ail else "",
              "provider": provider or (value_in(aip, 3, 1) if aip else "")}
    return {k: _null(v) for k, v in values.items() if v}


def _apply_siu(message: hl7.Message, trigger: str, control_id: str, store: V2Store) -> None:
    appointment = _appointment_from_siu(message)
    appointment["last_control_id"] = control_id
    existing = store.appointment(appointment["appointment_id"])
    if trigger == "S12" and existing is not None:
        raise Refused("AR", Refusal("205", f"appointment {appointment['appointment_id']} "
                                           "already exists", "SCH^1^1"))
    if trigger != "S12" and existing is None:
        raise Refused("AE", Refusal("204", f"unknown appointment {appointment['appointment_id']}",
                                    "SCH^1^1"))
    pid = _segment(message, "PID", required=trigger == "S12")
    if pid is not None:
        patient = patient_from_pid(pid)
        if store.patient(patient["mrn"]) is None:
            store.put_patient({**patient, "last_control_id": control_id})
        appointment["patient_mrn"] = patient["mrn"]
    if SIU_EVENTS[trigger] and (trigger != "S12" or "status" not in appointment):
        appointment["status"] = SIU_EVENTS[trigger]  # S12 keeps SCH-25 when it is given
    store.put_appointment(appointment)
