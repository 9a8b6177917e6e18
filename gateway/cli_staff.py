"""`fhir-gateway worker`, `outbox ...` and `review ...`: the outbox worker and the staff tools.

May import: everything in gateway (a composition root, like cli.py and app.py). The worker is
the process that delivers writes a backend could not take at once (the demo starts one). The
outbox and review commands are the staff tools of /admin/outbox and /admin/review, acting as
the integration admin at this terminal (audited as client fhir-gateway-cli with the
operating-system user); each prints its answer as JSON, or the refusal and exits 1.
"""
from __future__ import annotations

import argparse
import getpass
import json
import signal
import sys
import threading


def _container():
    from gateway.app import create_app
    return create_app().extensions["fhir_gateway"]


def _agent():
    from gateway.services.audit import Agent
    return Agent(client_id="fhir-gateway-cli", user=getpass.getuser(), role="integration_admin")


def _cmd_worker(args: argparse.Namespace) -> int:
    """Deliver due outbox rows until SIGTERM, or everything due now with --once."""
    from gateway.sync.outbox_worker import OutboxWorker
    container = _container()
    worker = OutboxWorker(container.outbox.deliver_due, container.settings.worker_interval_ms / 1000,
                          observe=container.metrics.observe_outbox)
    try:
        if args.once:
            done = container.outbox.drain(worker.holder)
            container.metrics.observe_outbox(done)
            print(json.dumps(done.as_dict()))
            return 0 if done.dead == 0 else 1
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        print(json.dumps({"worker": worker.holder}), flush=True)
        worker.serve(stop)
        return 0
    finally:
        container.fhir.delivery.close()
        container.db.dispose()


def _staff_call(container, call) -> int:
    """Run one staff call; print its answer as JSON, or the refusal (exit 1)."""
    from gateway.errors import FhirError
    try:
        out = call()
    except FhirError as exc:
        print(f"fhir-gateway: {exc.diagnostics} (HTTP {exc.status})", file=sys.stderr)
        return 1
    finally:
        container.db.dispose()
    print(json.dumps(out, indent=2))
    return 0


def _cmd_outbox(args: argparse.Namespace) -> int:
    container = _container()
    letters, agent = container.dead_letters, _agent()

    def call():
        if args.action == "list":
            return letters.page(agent, status=args.status, backend=args.backend, limit=args.limit)
        if args.action == "show":
            return letters.show(agent, _row_id(args))
        if args.action == "replay":
            return (letters.replay_all(agent, args.backend) if args.all_dead
                    else letters.replay(agent, _row_id(args)))
        return letters.discard(agent, _row_id(args), args.reason or "")
    return _staff_call(container, call)


def _row_id(args: argparse.Namespace) -> int:
    if args.id is None:
        from gateway.errors import BadRequest
        raise BadRequest(f"outbox {args.action} needs a row id")
    return args.id


def _cmd_review(args: argparse.Namespace) -> int:
    """The duplicate-patient review queue (gateway.services.match_review)."""
    from gateway.services.match_review import ReviewQueue
    if args.action != "list" and args.id is None:
        print(f"review {args.action} needs an item id", file=sys.stderr)
        return 2
    container = _container()
    queue = ReviewQueue(container.fhir, "merge" in container.operations.get("Patient", ()))
    agent = _agent()

    def call():
        if args.action == "list":
            params = {"status": args.status, "count": str(args.count)}
            return queue.list(params | ({"before": str(args.before)} if args.before else {}), agent)
        if args.action == "show":
            return queue.show(args.id, agent)
        body = {"decision": args.decision, "survivor": args.survivor, "note": args.note}
        return queue.resolve(args.id, {k: v for k, v in body.items() if v is not None}, agent,
                             base_url=container.settings.base_url.rstrip("/"))
    return _staff_call(container, call)


def register(sub) -> None:
    worker = sub.add_parser("worker", help="deliver the outbox: writes a backend EHR could not take at once")
    worker.add_argument("--once", action="store_true",
                        help="deliver everything due now, then exit (1 if something was dead-lettered)")
    worker.set_defaults(func=_cmd_worker)

    outbox = sub.add_parser("outbox", help="the delivery outbox and its dead letters")
    outbox.add_argument("action", choices=["list", "show", "replay", "discard"])
    outbox.add_argument("id", nargs="?", type=int, help="the outbox row (show, replay, discard)")
    outbox.add_argument("--status", choices=["pending", "delivered", "dead", "discarded"])
    outbox.add_argument("--backend")
    outbox.add_argument("--limit", type=int, default=50)
    outbox.add_argument("--all-dead", action="store_true", help="replay: every dead letter (of --backend)")
    outbox.add_argument("--reason", help="discard: why it needs no delivery (required)")
    outbox.set_defaults(func=_cmd_outbox)

    review = sub.add_parser("review", help="the duplicate-patient review queue: list, show, resolve")
    review.add_argument("action", choices=["list", "show", "resolve"])
    review.add_argument("id", nargs="?", type=int, help="the review item (show, resolve)")
    review.add_argument("--status", default="open",
                        choices=["open", "duplicate", "not_duplicate", "dismissed", "all"])
    review.add_argument("--count", type=int, default=20)
    review.add_argument("--before", type=int, help="list: items older than this id (paging)")
    review.add_argument("--decision", choices=["duplicate", "not_duplicate", "dismissed"])
    review.add_argument("--survivor", help="resolve --decision duplicate: Patient/<id> to keep")
    review.add_argument("--note")
    review.set_defaults(func=_cmd_review)
