"""Who is calling, for the audit trail: the token's client, user and role, and the address.

May import: flask, gateway.auth.access, gateway.services.audit. Shared by the FHIR views and
the staff admin views, so both record the same agent for the same token.
"""
from __future__ import annotations

from flask import request

from gateway.auth.access import current_access
from gateway.services.audit import Agent


def caller() -> Agent:
    access = current_access()
    if access is None:
        return Agent(address=request.remote_addr)
    return Agent(client_id=access.client_id, user=access.user, role=access.role,
                 address=request.remote_addr)
