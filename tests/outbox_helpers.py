"""Test helpers for the transactional outbox: run the worker once, list the rows.

Imported by tests as `from outbox_helpers import ...` (tests/ is on sys.path via its conftest).
"""
from __future__ import annotations


def deliver_outbox(app, *, ahead_seconds: float = 3600):
    """Run the outbox worker over `app`'s database once, as if `ahead_seconds` had passed (so
    rows waiting out their backoff are due): what `fhir-gateway worker --once` does."""
    from datetime import timedelta

    from gateway.services.canonical import utc_now
    from gateway.services.outbox_delivery import OutboxDeliverer
    container = app.extensions["fhir_gateway"]
    deliverer = OutboxDeliverer(container.db, container.fhir.delivery, container.fhir.rules,
                                lambda: utc_now() + timedelta(seconds=ahead_seconds))
    return deliverer.drain("test-worker")


def outbox_rows(app, **filters) -> list[dict]:
    """The outbox rows (newest first), as the staff API shows them."""
    from gateway.services.audit import Agent
    letters = app.extensions["fhir_gateway"].dead_letters
    return letters.page(Agent(client_id="test"), limit=200, **filters)["items"]
