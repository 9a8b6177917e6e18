"""Answer an IHE PDQ query (QBP^Q22) with RSP^K22 from the sandbox's patient table.

May import: stdlib, python-hl7 (through er7) and the sibling sandbox modules.
IHE ITI TF-2a 3.21 (Patient Demographics Query): QPD-3 repeats `@<field>^<value>` pairs, all of
which must match; a trailing `*` in a value matches as a prefix; RCP-2 limits the count.
"""
from __future__ import annotations

import hl7

from conformance.sandbox.er7 import repetitions, value_in
from conformance.sandbox.v2_replies import Header, Refusal, pid_segment, rsp_k22
from conformance.sandbox.v2_store import V2Store

# QPD-3 field names (IHE ITI TF-2a 3.21.4.1.2.2) to patient columns.
QUERY_FIELDS = {"PID.3": "mrn", "PID.3.1": "mrn", "PID.5": "family", "PID.5.1": "family",
                "PID.5.1.1": "family", "PID.5.2": "given", "PID.5.3": "middle",
                "PID.7": "birth_date", "PID.7.1": "birth_date", "PID.8": "sex",
                "PID.11.1": "street", "PID.11.1.1": "street", "PID.11.3": "city",
                "PID.11.4": "state", "PID.11.5": "zip", "PID.13": "phone", "PID.13.1": "phone"}


def _criteria(qpd) -> list[tuple[str, str]]:
    """(column, value) pairs from QPD-3; raises ValueError naming an unsupported field."""
    pairs = []
    for rep in range(1, repetitions(qpd, 3) + 1):
        name, value = value_in(qpd, 3, 1, 1, rep), value_in(qpd, 3, 2, 1, rep)
        if not name and not value:
            continue
        column = QUERY_FIELDS.get(name.lstrip("@").upper())
        if column is None:
            raise ValueError(f"query field {name!r} is not supported")
        pairs.append((column, value))
    return pairs


def _matches(patient: dict, criteria: list[tuple[str, str]]) -> bool:
    for column, wanted in criteria:
        have = (patient.get(column) or "").upper()
        wanted = wanted.upper()
        if column == "birth_date":
            have, wanted = have[:8], wanted[:8]
        if wanted.endswith("*"):
            if not have.startswith(wanted[:-1]):
                return False
        elif have != wanted:
            return False
    return True


def answer(message: hl7.Message, header: Header, control_id: str, store: V2Store) -> tuple[str, str, str]:
    """(RSP^K22 text, MSA-1 code, error text) for one QBP^Q22."""
    try:
        qpd = message.segment("QPD")
    except KeyError:
        refusal = Refusal("100", "QPD segment missing", "QPD^1")
        return rsp_k22(header, control_id, "QPD", "", [], refusal), "AE", refusal.message
    tag = value_in(qpd, 2)
    try:
        criteria = _criteria(qpd)
        if not criteria:
            raise ValueError("QPD-3 holds no query parameter")
    except ValueError as exc:
        refusal = Refusal("103", str(exc), "QPD^1^3")
        return rsp_k22(header, control_id, str(qpd), tag, [], refusal), "AE", refusal.message
    found = [p for p in store.patients() if not p["merged_into"] and _matches(p, criteria)]
    limit = _limit(message)
    if limit is not None:
        found = found[:limit]
    pids = [pid_segment(i, p) for i, p in enumerate(found, start=1)]
    return rsp_k22(header, control_id, str(qpd), tag, pids), "AA", ""


def _limit(message: hl7.Message) -> int | None:
    """RCP-2 quantity limited request (CQ: quantity^units), when given."""
    try:
        rcp = message.segment("RCP")
    except KeyError:
        return None
    value = value_in(rcp, 2, 1)
    return int(value) if value.isdigit() and int(value) > 0 else None
