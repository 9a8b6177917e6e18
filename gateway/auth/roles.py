"""Roles and the scopes each may ever hold (the ceiling a client's or user's grant is capped to).

May import: stdlib only. Reasoning, HIPAA minimum necessary (45 CFR 164.502(b)):
- front_desk registers patients, books appointments, records coverage and intake documents,
  and checks insurance eligibility at check-in;
- clinician reads the chart and writes documents, and may see eligibility checks and answers;
- billing works on coverage and eligibility checks and needs patient demographics read-only;
Eligibility: a CoverageEligibilityRequest is created (and read, searched) by the desk, never
changed once asked; its CoverageEligibilityResponse is written only by the gateway, so no role
may create, update or delete one.
- integration_admin runs the integration (system scopes; syncs, dead letters, merges);
- auditor reads the audit trail and nothing else.
Only auditor and integration_admin may read AuditEvent.
"""
from __future__ import annotations

_FRONT = "Patient Appointment Coverage DocumentReference Binary".split()


def _eligibility(contexts: tuple[str, ...], ask: bool) -> list[str]:
    return [s for c in contexts for s in (f"{c}/CoverageEligibilityRequest.{'crs' if ask else 'rs'}",
                                          f"{c}/CoverageEligibilityResponse.rs")]


CEILINGS = {
    # front-desk apps subscribe to changes (user/ only: a Subscription outlives a patient launch)
    "front_desk": " ".join([f"{c}/{t}.cruds" for c in ("user", "patient") for t in _FRONT]
                           + ["user/Subscription.cruds"] + _eligibility(("user", "patient"), ask=True)),
    "clinician": " ".join([f"{c}/{t}.rs" for c in ("user", "patient") for t in _FRONT]
                          + [f"{c}/DocumentReference.cru" for c in ("user", "patient")]
                          + [f"{c}/Binary.cru" for c in ("user", "patient")]
                          + _eligibility(("user", "patient"), ask=False)),
    "billing": " ".join([f"{c}/Coverage.cruds" for c in ("user", "system")]
                        + [f"{c}/Patient.rs" for c in ("user", "system")]
                        + _eligibility(("user", "system"), ask=True)),
    "integration_admin": "system/*.cruds user/*.cruds patient/*.cruds",
    "auditor": "user/AuditEvent.rs system/AuditEvent.rs",
}
ADMIN_ONLY = {"sync", "replay", "merge"}  # operations only integration_admin may trigger


def ceiling(role: str) -> str:
    try:
        return CEILINGS[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(CEILINGS)}") from None
