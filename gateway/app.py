"""create_app: the one composition root. Everything is wired here and nowhere else.

May import: everything in gateway and translators. No module-level mutable state: each app
gets its own Database, services and profile set, so tests can build many apps side by side.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Mapping

from flask import Flask, request

from gateway.api.admin_review import bp as admin_review_blueprint
from gateway.api.admin_outbox import bp as admin_outbox_blueprint
from gateway.api.cors import init_cors
from gateway.api.errors import register_error_handlers
from gateway.api.fhir import bp as fhir_blueprint
from gateway.api.ingest import bp as ingest_blueprint
from gateway.api.ops import bp as ops_blueprint
from gateway.api.launch_views import bp as launch_blueprint
from gateway.api.limits import init_limits, limit_storage
from gateway.api.metrics import GatewayMetrics, MeteredDelivery, MeteredIngest, init_metrics
from gateway.api.smart import bp as smart_blueprint
from gateway.auth import init_auth
from gateway.auth.discovery import security_element
from gateway.auth.tokens import AuthService
from gateway.capability import build_capability, supported_interactions, supported_operations
from gateway.services.bundles import BundleProcessor
from gateway.services.canonical import instant, utc_now
from gateway.services.dead_letters import DeadLetters
from gateway.services.outbox_delivery import OutboxDeliverer
from gateway.services.push import DeliveryRules
from gateway.services.inbound_events import EventApplier
from gateway.services.ops_state import OpsStateReader
from gateway.services.resources import FhirService
from gateway.settings import ConfigError, Settings, interval_seconds, load_settings
from gateway.store.audit_drain import drain_journal
from gateway.store.audit_journal import AuditJournal
from gateway.store.db import Database
from gateway.sync.audit_drainer import AuditDrainer
from gateway.sync.backoff import RetryPolicy
from gateway.sync.budget import BackendBudgets
from gateway.sync.events import build_ingest
from gateway.sync.router import Router
from gateway.store.migrate import current_revision, head_revision
from translators.profile import load_profiles
from translators.types import Profile


def software_version() -> str:
    try:
        return version("fhir-gateway")
    except PackageNotFoundError:
        return "0.0.0+source"


@dataclass
class Container:
    """What the views reach through app.extensions['fhir_gateway']."""

    settings: Settings
    db: Database
    profiles: Mapping[str, Profile]
    fhir: FhirService
    bundles: BundleProcessor
    started: str
    auth: AuthService
    metrics: GatewayMetrics
    operations: Mapping[str, frozenset[str]]  # type -> operations offered (computed at start)
    outbox: OutboxDeliverer  # what `fhir-gateway worker` runs
    dead_letters: DeadLetters  # the staff API over the outbox
    ingest: Any = None  # webhook receivers by backend (gateway.sync.events, metered)

    def capability(self, base_url: str) -> dict:
        statement = build_capability(self.settings, self.profiles, base_url, software_version(),
                                     self.started)
        if self.settings.auth == "on":
            statement["rest"][0]["security"] = security_element(base_url)
        return statement


def _settings(config: Settings | Mapping[str, Any] | None) -> Settings:
    if isinstance(config, Settings):
        return config
    return load_settings(overrides=config or {})


def _check_schema(db: Database) -> None:
    current, head = current_revision(db.engine), head_revision()
    if current != head:
        raise ConfigError(f"database_url: the database is at migration {current or 'none'}, "
                          f"this version needs {head}; run `fhir-gateway db upgrade`")


def _delivery(settings: Settings, profiles: Mapping[str, Profile], metrics: GatewayMetrics):
    """The Router and its metered face; backends declaring options.rate_limit get a budget in
    the storage the inbound limits use (built only when some backend declares one)."""
    budgeted = [b for b in settings.backends if b.options.get("rate_limit")]
    budgets = (BackendBudgets(budgeted, limit_storage(settings), settings.rate_limit_prefix)
               if budgeted else None)
    router = Router(settings, profiles, budgets)
    return router, MeteredDelivery(router, metrics)


def _delivery_rules(settings: Settings) -> DeliveryRules:
    """Retries of writes a backend could not take: jittered exponential backoff, then the
    dead-letter queue (after outbox_max_attempts tries or outbox_max_age)."""
    retry = RetryPolicy(settings.outbox_retry_base_seconds, settings.outbox_retry_cap_seconds,
                        settings.outbox_max_attempts)
    return DeliveryRules(retry, timedelta(seconds=interval_seconds(settings.outbox_max_age)),
                         queue_when_unavailable=settings.delivery_when_unavailable == "queue")


def _audit_journal(settings: Settings, db: Database):
    """The read-audit journal and the hook that wakes its background drainer (None and a
    no-op when reads are audited inline)."""
    if settings.audit_reads != "journal":
        return None, lambda: None
    journal = AuditJournal(settings.resolved_audit_journal_dir, fsync=settings.audit_journal_fsync)
    drainer = AuditDrainer(lambda: drain_journal(db, journal),
                           settings.audit_drain_interval_ms / 1000)
    db.on_dispose(drainer.stop)
    return journal, drainer.wake


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the gateway app from settings (a Settings, a mapping of overrides, or the env)."""
    settings = _settings(config)
    logging.getLogger("gateway").setLevel(settings.log_level)
    profiles = load_profiles()
    db = Database(settings.resolved_database_url)
    _check_schema(db)
    supported = supported_interactions(settings, profiles)  # raises ConfigError if a profile lies
    metrics = GatewayMetrics.from_environment()
    journal, journaled = _audit_journal(settings, db)
    metrics.state = OpsStateReader(db, journal).read
    router, delivery = _delivery(settings, profiles, metrics)
    rules = _delivery_rules(settings)
    fhir = FhirService(db, settings, supported, delivery=delivery, journal=journal,
                       journaled=journaled, rules=rules)
    # webhook events fetch through the same backend clients (one OAuth token per backend)
    ingest = MeteredIngest(build_ingest(settings.backends, profiles, router.backends,
                                        EventApplier(fhir)), metrics)
    if journal is not None and journal.segments():
        journaled()  # events a previous process left in the journal: chain them now
    container = Container(settings, db, profiles, fhir, BundleProcessor(fhir), instant(utc_now()),
                          AuthService(db, utc_now), metrics, supported_operations(settings, profiles),
                          OutboxDeliverer(db, fhir.delivery, rules, utc_now,
                                          timedelta(seconds=settings.outbox_lease_seconds)),
                          DeadLetters(fhir), ingest)

    app = Flask("gateway")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["TESTING"] = settings.testing
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    app.extensions["fhir_gateway"] = container
    register_error_handlers(app)
    if settings.metrics == "on":
        init_metrics(app, metrics)  # first: its timer starts before every other hook
    init_cors(app)  # before the token guard: browser preflights carry no token
    init_auth(app)
    init_limits(app, settings, metrics, fhir_blueprint, (smart_blueprint, launch_blueprint),
                ingest_blueprint)
    app.register_blueprint(smart_blueprint)
    app.register_blueprint(launch_blueprint)
    app.register_blueprint(fhir_blueprint)
    app.register_blueprint(ops_blueprint)
    app.register_blueprint(admin_review_blueprint)  # /admin/review: the duplicate-patient queue
    app.register_blueprint(admin_outbox_blueprint)
    app.register_blueprint(ingest_blueprint)
    @app.after_request
    def _hsts(response):
        # RFC 6797: browsers keep to HTTPS once they saw it here (only sent over TLS).
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response

    if settings.auth == "off":
        app.logger.warning("AUTH IS OFF (GATEWAY_AUTH=off): every caller may read and write PHI")
    return app
