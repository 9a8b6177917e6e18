"""`fhir-gateway notifier | subscriptions | notifications`: the commands around Subscriptions.

May import: everything in gateway (a composition root for these commands, like gateway.cli).
`notifier` sends due notifications (a loop, or one pass with --once: exit 1 if an attempt
failed); `subscriptions list` shows each Subscription with its queue; `notifications list` the
queue itself, `notifications replay ID | --all-dead` puts dead rows back. Output never holds
an endpoint's query string (it may carry a secret) nor any resource content.
"""
from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from gateway.settings import ConfigError, Settings, interval_seconds


def _container():
    from gateway.app import create_app
    return create_app().extensions["fhir_gateway"]


def build_notifier(settings: Settings, db, metrics=None, **overrides):
    """The Notifier over the configured retry policy, counting outcomes in `metrics`."""
    from gateway.services.subscription_delivery import SubscriptionDeliveries
    from gateway.sync.backoff import RetryPolicy
    from gateway.sync.notifier import Notifier
    from gateway.transports.webhook import WebhookSender
    if settings.notifier_retry_cap_seconds < settings.notifier_retry_base_seconds:
        raise ConfigError("notifier_retry_cap_seconds: must be >= notifier_retry_base_seconds")
    age = interval_seconds(settings.notifier_max_age)
    counted = (lambda outcome: metrics.subscription_notifications.labels(outcome).inc()) if metrics else None
    options = dict(db=db, port=SubscriptionDeliveries(settings.subscription_error_after),
                   sender=WebhookSender(), rng=random.Random(),
                   policy=RetryPolicy(settings.notifier_retry_base_seconds,
                                      settings.notifier_retry_cap_seconds,
                                      settings.notifier_max_attempts),
                   max_age=timedelta(seconds=age) if age else None)
    if counted:
        options["on_outcome"] = counted
    return Notifier(**(options | overrides))


def _cmd_notifier(args: argparse.Namespace) -> int:
    container = _container()
    notifier = build_notifier(container.settings, container.db, container.metrics)
    try:
        if args.once:
            result = notifier.run_once()
            print(json.dumps({"claimed": result.claimed, "outcomes": result.outcomes}))
            return 0 if result.ok else 1
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        print(json.dumps({"notifier": notifier.holder}), flush=True)
        notifier.serve(stop, container.settings.notifier_interval_seconds)
        return 0
    finally:
        notifier.sender.close()
        container.db.dispose()


def _safe_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return urlunsplit(parts._replace(query="", fragment="")) + ("?..." if parts.query else "")


def _cmd_subscriptions(_args: argparse.Namespace) -> int:
    from gateway.store.notifications import NotificationRepository
    container = _container()
    out = []
    try:
        with container.db.read() as session:
            repo = NotificationRepository(session)
            for sid, content in repo.live_subscriptions():
                body = json.loads(content)
                channel = body.get("channel", {})
                health = repo.health(sid)
                out.append({"id": sid, "status": body.get("status"), "criteria": body.get("criteria"),
                            "type": channel.get("type"), "payload": channel.get("payload"),
                            "endpoint": _safe_endpoint(channel.get("endpoint", "")),
                            "error": body.get("error"),
                            "consecutive_failures": health.consecutive_failures if health else 0,
                            "notifications": repo.counts(sid)})
    finally:
        container.db.dispose()
    print(json.dumps({"subscriptions": out}, indent=2))
    return 0


def _row(row) -> dict:
    def iso(moment):
        return None if moment is None else moment.isoformat(timespec="seconds") + "Z"
    return {"id": row.pk, "subscription": f"Subscription/{row.subscription_id}",
            "resource": f"{row.resource_type}/{row.resource_id}/_history/{row.version_id}",
            "interaction": row.interaction, "status": row.status, "attempts": row.attempts,
            "next_attempt_at": iso(row.next_attempt_at) if row.status == "pending" else None,
            "last_error": row.last_error, "created": iso(row.created), "delivered": iso(row.delivered)}


def _cmd_notifications(args: argparse.Namespace) -> int:
    from gateway.services.canonical import utc_now
    from gateway.store.notifications import STATUSES, NotificationRepository
    container = _container()
    try:
        if args.action == "list":
            if args.status and args.status not in STATUSES:
                print(f"--status must be one of {', '.join(STATUSES)}", file=sys.stderr)
                return 2
            with container.db.read() as session:
                rows = [_row(r) for r in NotificationRepository(session).listing(args.status, args.limit)]
            print(json.dumps({"notifications": rows}, indent=2))
            return 0
        if args.all_dead == (args.id is not None):
            print("notifications replay needs one notification ID or --all-dead", file=sys.stderr)
            return 2
        with container.db.transaction() as session:
            replayed = NotificationRepository(session).replay(utc_now(), args.id)
        print(json.dumps({"replayed": replayed}))
        if args.id is not None and not replayed:
            print(f"notification {args.id} is not dead (only dead notifications are replayed)",
                  file=sys.stderr)
            return 1
        return 0
    finally:
        container.db.dispose()


def register(sub) -> None:
    notifier = sub.add_parser("notifier", help="send Subscription notifications (rest-hook)")
    notifier.add_argument("--once", action="store_true", help="one pass, then exit (1 if a send failed)")
    notifier.set_defaults(func=_cmd_notifier)
    subscriptions = sub.add_parser("subscriptions", help="the Subscriptions and their queues")
    subscriptions.add_argument("action", choices=["list"])
    subscriptions.set_defaults(func=_cmd_subscriptions)
    notifications = sub.add_parser("notifications", help="the notification queue: list, replay dead ones")
    notifications.add_argument("action", choices=["list", "replay"])
    notifications.add_argument("id", nargs="?", type=int)
    notifications.add_argument("--status", help="list: only pending, delivered, dead or cancelled")
    notifications.add_argument("--limit", type=int, default=100, help="list: newest first, at most this many")
    notifications.add_argument("--all-dead", action="store_true", help="replay: every dead notification")
    notifications.set_defaults(func=_cmd_notifications)


__all__ = ["register", "build_notifier"]
