"""Prometheus metrics: one registry per app, the HTTP hooks, a metered Delivery and GET /metrics.

May import: flask, prometheus_client, gateway.delivery, gateway.sync.budget, stdlib.
Labels hold only bounded, PHI-free values: the matched URL rule ("/fhir/<rtype>/<rid>", never
the raw path, which carries ids), a known HTTP method, the status, backend names, interactions,
outcomes and HL7 ACK codes. A registry per app (not prometheus_client's global one) lets tests
build many apps in one process. With PROMETHEUS_MULTIPROC_DIR set (several gunicorn workers),
prometheus_client writes values to files in that folder and /metrics sums every worker's.
"""
from __future__ import annotations

import os
import re
import time
from typing import Callable

from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily

from gateway.delivery import ELIGIBILITY_ASKS, Delivery, DeliveryRefused, DeliveryUnavailable
from gateway.sync.budget import BackendThrottled

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STARTED = "gateway.metrics.started"  # WSGI environ key: the request's start time


class GatewayMetrics:
    """The gateway's metric families, registered in a registry of their own."""

    def __init__(self, multiproc_dir: str | None = None) -> None:
        self.multiproc_dir = multiproc_dir
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("fhir_gateway_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=registry)
        self.request_seconds = Histogram("fhir_gateway_http_request_seconds",
                                         "Time to answer an HTTP request", ["route"], registry=registry)
        self.deliveries = Counter("fhir_gateway_backend_deliveries",
                                  "Writes, searches and eligibility checks sent to a backend "
                                  "EHR, by outcome (delivered, refused, unavailable, throttled)",
                                  ["backend", "interaction", "outcome"], registry=registry)
        self.delivery_seconds = Histogram("fhir_gateway_backend_delivery_seconds",
                                          "Time a backend EHR took to answer", ["backend"],
                                          registry=registry)
        self.rate_limited = Counter("fhir_gateway_rate_limited",
                                    "Requests refused by a rate limit (fhir, oauth, backend)",
                                    ["scope"], registry=registry)
        self.outbox_lag = Histogram("fhir_gateway_outbox_delivery_lag_seconds",
                                    "Time from a write's commit to its delivery by the outbox worker",
                                    ["backend"], registry=registry,
                                    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400))
        self.inbound = Counter("fhir_gateway_inbound_messages",
                               "HL7 v2 messages received from a backend, by the ACK code answered",
                               ["backend", "ack"], registry=registry)
        # Subscriptions: counted by `fhir-gateway notifier` (delivered, failed = retry
        # scheduled, dead, cancelled); the queue's depth is read at scrape time below.
        self.subscription_notifications = Counter(
            "fhir_gateway_subscription_notifications",
            "Subscription notification attempts by outcome (delivered, failed, dead, cancelled)",
            ["outcome"], registry=registry)
        self.inbound_events = Counter("fhir_gateway_inbound_events",
                                      "Webhook events received from a backend, by outcome (applied, "
                                      "unchanged, ignored, duplicate, invalid, unauthorized, "
                                      "refused, unavailable, error)", ["backend", "outcome"],
                                      registry=registry)

        self.state: Callable[[], object] | None = None  # OpsState reader, set by create_app

    def observe_outbox(self, done) -> None:
        """A worker pass (gateway.services.outbox_delivery.DeliveryRound): delivery lags."""
        for backend, lag in done.lag_seconds:
            self.outbox_lag.labels(backend).observe(lag)

    @classmethod
    def from_environment(cls) -> "GatewayMetrics":
        return cls(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None)

    def exposition(self) -> bytes:
        if self.multiproc_dir:
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged, path=self.multiproc_dir)
            text = generate_latest(merged)
        else:
            text = generate_latest(self.registry)
        if self.state is not None:  # gauges read from the database and journal at scrape time
            scraped = CollectorRegistry()
            scraped.register(_StateCollector(self.state))
            text += generate_latest(scraped)
        return text


class _StateCollector:
    """Scheduled-job health and the audit journal backlog, as gauges read at scrape time.
    A failed read is reported as fhir_gateway_state_up 0 instead of failing the scrape."""

    def __init__(self, read: Callable[[], object]) -> None:
        self.read = read

    def collect(self):
        up = GaugeMetricFamily("fhir_gateway_state_up",
                               "1 when the operational state (jobs, journal) could be read")
        try:
            state = self.read()
        except Exception:  # the database is down: the HTTP metrics still matter
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        success = GaugeMetricFamily("fhir_gateway_job_last_success_timestamp_seconds",
                                    "When each scheduled job last succeeded (Unix time)", labels=["job"])
        failing = GaugeMetricFamily("fhir_gateway_job_consecutive_failures",
                                    "Failed runs of each scheduled job since its last success",
                                    labels=["job"])
        runs = GaugeMetricFamily("fhir_gateway_job_runs", "Runs of each scheduled job", labels=["job"])
        for job in state.jobs:
            if job.last_success_epoch is not None:
                success.add_metric([job.name], job.last_success_epoch)
            failing.add_metric([job.name], job.consecutive_failures)
            runs.add_metric([job.name], job.runs)
        yield success
        yield failing
        yield runs
        yield from _outbox_families(state)
        yield from _notification_gauges(state)
        reviews = GaugeMetricFamily("fhir_gateway_patient_reviews_open",
                                    "Possible duplicate patients waiting for staff review")
        reviews.add_metric([], state.open_reviews)
        yield reviews
        if state.audit_backlog_bytes is not None:
            backlog = GaugeMetricFamily("fhir_gateway_audit_journal_backlog_bytes",
                                        "Journaled read audit events not chained yet (bytes)")
            backlog.add_metric([], state.audit_backlog_bytes)
            yield backlog


def _outbox_families(state):
    """The outbox per backend and status (the dead-letter queue is status="dead"), and how old
    each backend's oldest undelivered write is."""
    messages = GaugeMetricFamily("fhir_gateway_outbox_messages",
                                 "Outbox rows by backend and status (pending, delivered, dead, "
                                 "discarded); dead = the dead-letter queue depth",
                                 labels=["backend", "status"])
    for (backend, status), count in sorted(state.outbox.items()):
        messages.add_metric([backend, status], count)
    yield messages
    oldest = GaugeMetricFamily("fhir_gateway_outbox_oldest_pending_age_seconds",
                               "Age of each backend's oldest write still waiting for delivery",
                               labels=["backend"])
    for backend, age in sorted(state.outbox_oldest_age.items()):
        oldest.add_metric([backend], age)
    yield oldest
def _notification_gauges(state):
    """Subscription notifications waiting (pending) and dead-lettered, from the database."""
    for status, help_text in (("dead", "Dead-lettered subscription notifications (replay them "
                                       "with `fhir-gateway notifications replay`)"),
                              ("pending", "Subscription notifications waiting to be sent")):
        gauge = GaugeMetricFamily(f"fhir_gateway_subscription_notifications_{status}", help_text)
        gauge.add_metric([], state.notifications.get(status, 0))
        yield gauge


_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _route(names: dict[str, str]) -> str:
    """The matched rule without converters ("/fhir/<rtype>/<rid>"); cached per app (`names`)."""
    rule = request.url_rule
    if rule is None:
        return "unmatched"
    name = names.get(rule.rule)
    if name is None:
        name = names[rule.rule] = _CONVERTER.sub(r"<\1>", rule.rule)
    return name


def init_metrics(app: Flask, metrics: GatewayMetrics) -> None:
    """Time and count every request and serve GET /metrics. Call before the other hooks are
    installed: the start time is taken first and the count made last."""

    route_names: dict[str, str] = {}
    # labelled children, cached: prometheus_client's labels() validates and locks on every
    # call (~10 us); the label sets are bounded (routes x methods x statuses)
    counters: dict[tuple[str, str, int], object] = {}
    timers: dict[str, object] = {}

    @app.before_request
    def _start() -> None:
        request.environ[_STARTED] = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = request.environ.get(_STARTED)
        route = _route(route_names)
        method = request.method if request.method in _METHODS else "other"
        key = (method, route, response.status_code)
        counter = counters.get(key)
        if counter is None:
            counter = counters[key] = metrics.requests.labels(method, route, str(response.status_code))
        counter.inc()
        if started is not None:
            timer = timers.get(route)
            if timer is None:
                timer = timers[route] = metrics.request_seconds.labels(route)
            timer.observe(time.perf_counter() - started)
        return response

    # Outside /fhir, so the token guard never asks for a token (a scraper has none); restrict
    # it at the proxy, or switch metrics off.
    app.add_url_rule("/metrics", "metrics", lambda: Response(
        metrics.exposition(), content_type=CONTENT_TYPE_LATEST))


class MeteredDelivery:
    """A Delivery that counts and times what goes to each backend; the answer is unchanged."""

    def __init__(self, inner: Delivery, metrics: GatewayMetrics) -> None:
        self.inner, self.metrics = inner, metrics

    def owner(self, resource_type: str) -> str:
        return self.inner.owner(resource_type)

    def profile(self, backend: str) -> str:
        return self.inner.profile(backend)

    def landing_id(self, interaction: str, resource: dict, backend_ids) -> str | None:
        return self.inner.landing_id(interaction, resource, backend_ids)

    def push(self, interaction: str, resource: dict, backend_ids, related, *, resend: bool = False):
        backend = self.inner.owner(resource["resourceType"])
        call = lambda: self.inner.push(interaction, resource, backend_ids, related, resend=resend)  # noqa: E731
        return call() if backend == "local" else self._observe(backend, interaction, call)

    def query(self, resource_type: str, params: list[tuple[str, str]]):
        backend = self.inner.owner(resource_type)
        call = lambda: self.inner.query(resource_type, params)  # noqa: E731
        return call() if backend == "local" else self._observe(backend, "search", call)

    def eligibility(self, request: dict, backend_ids, related, now):
        backend = self.inner.owner(ELIGIBILITY_ASKS)
        call = lambda: self.inner.eligibility(request, backend_ids, related, now)  # noqa: E731
        return call() if backend == "local" else self._observe(backend, "eligibility", call)

    def _observe(self, backend: str, interaction: str, call: Callable):
        started = time.perf_counter()
        try:
            answer = call()
        except BackendThrottled:
            self.metrics.deliveries.labels(backend, interaction, "throttled").inc()
            self.metrics.rate_limited.labels("backend").inc()
            raise  # nothing was sent: no delivery time to record
        except DeliveryRefused:
            self._count(backend, interaction, "refused", started)
            raise
        except DeliveryUnavailable:
            self._count(backend, interaction, "unavailable", started)
            raise
        if answer is not None:  # None: the backend was not asked (the mirror answers)
            self._count(backend, interaction, "delivered", started)
        return answer

    def _count(self, backend: str, interaction: str, outcome: str, started: float) -> None:
        self.metrics.deliveries.labels(backend, interaction, outcome).inc()
        self.metrics.delivery_seconds.labels(backend).observe(time.perf_counter() - started)

    def close(self) -> None:
        self.inner.close()


def metered_inbound(handler: Callable[[bytes], bytes], backend: str,
                    metrics: GatewayMetrics) -> Callable[[bytes], bytes]:
    """Wrap an inbound MLLP handler to count each message by the ACK code it answered (MSA-1)."""

    def counted(payload: bytes) -> bytes:
        reply = handler(payload)
        metrics.inbound.labels(backend, _ack_code(reply)).inc()
        return reply

    return counted


def _ack_code(reply: bytes) -> str:
    """MSA-1 of an ACK the gateway built itself (field separator from MSH-4th character)."""
    text = reply.decode("utf-8", "replace")
    separator = text[3:4] or "|"
    for segment in text.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA"):
            code = segment.split(separator)[1:2]
            if code and code[0] in ("AA", "AE", "AR", "CA", "CE", "CR"):
                return code[0]
    return "unknown"


# -- inbound webhook events ------------------------------------------------------------------
# An unknown backend name comes from the URL: counted as "unknown", so labels stay bounded.
_EVENT_OUTCOMES = {400: "invalid", 413: "invalid", 401: "unauthorized", 404: "invalid",
                   409: "unavailable", 422: "refused", 503: "unavailable"}


class MeteredIngest:
    """The webhook receivers, counting each delivery by backend and outcome."""

    def __init__(self, inner, metrics: GatewayMetrics) -> None:
        self.inner, self.metrics = inner, metrics

    def receive(self, backend: str, headers, read_body, address):
        label = backend if self.inner.knows(backend) else "unknown"
        try:
            result = self.inner.receive(backend, headers, read_body, address)
        except Exception as exc:
            status = getattr(exc, "status", 500)
            self.metrics.inbound_events.labels(label, _EVENT_OUTCOMES.get(status, "error")).inc()
            raise
        self.metrics.inbound_events.labels(label, result.outcome).inc()
        return result
