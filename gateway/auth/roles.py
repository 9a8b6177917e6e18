"""Roles and the scopes each may ever hold (the ceiling a client's or user's grant is capped to).

May import: stdlib only. Reasoning, HIPAA minimum necessary (45 CFR 164.502(b)):
- front_desk registers patients, books appointments, records coverage and intake documents;
- clinician reads the chart and writes documents;
- billing works on coverage and needs patient demographics read-only;
- integration_admin runs the integration (system scopes; syncs, dead letters, merges);
- auditor reads the audit trail and nothing else.
Only auditor and integration_admin may read AuditEvent.
"""
from __future__ import annotations

_FRONT = "Patient Appointment Coverage DocumentReference Binary".split()
CEILINGS = {
    # front-desk apps subscribe to changes (user/ only: a Subscription outlives a patient launch)
    "front_desk": " ".join([f"{c}/{t}.cruds" for c in ("user", "patient") for t in _FRONT]
                           + ["user/Subscription.cruds"]),
    "clinician": " ".join([f"{c}/{t}.rs" for c in ("user", "patient") for t in _FRONT]
                          + [f"{c}/DocumentReference.cru" for c in ("user", "patient")]
                          + [f"{c}/Binary.cru" for c in ("user", "patient")]),
    "billing": " ".join([f"{c}/Coverage.cruds" for c in ("user", "system")]
                        + [f"{c}/Patient.rs" for c in ("user", "system")]),
    "integration_admin": "system/*.cruds user/*.cruds patient/*.cruds",
    "auditor": "user/AuditEvent.rs system/AuditEvent.rs",
}
ADMIN_ONLY = {"sync", "replay", "merge"}  # operations only integration_admin may trigger


def ceiling(role: str) -> str:
    try:
        return CEILINGS[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(CEILINGS)}") from None
