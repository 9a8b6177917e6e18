"""`fhir-gateway ...` commands: serve, db, demo, profiles (+ worker, outbox, review from cli_staff,
subscriptions from cli_subscriptions, and plug-ins: sandbox, conformance).

May import: everything in gateway and translators (it is a composition root, like app.py).
Errors in configuration print one clear line naming the key and exit 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from importlib.metadata import entry_points

from gateway.settings import ConfigError, load_settings


def _cmd_serve(args: argparse.Namespace) -> int:
    from gateway.app import create_app
    from gateway.serve import serve
    create_app()  # validate config and schema once in the master, before forking workers
    serve(args.host, args.port, args.workers, args.threads, args.certfile, args.keyfile)
    return 0


def _cmd_db(args: argparse.Namespace) -> int:
    from gateway.store.db import Database
    from gateway.store.migrate import current_revision, downgrade, head_revision, upgrade
    settings = load_settings()
    url = settings.resolved_database_url
    Database(url).dispose()  # creates the SQLite folder when needed
    if args.action == "reindex":
        return _db_reindex(Database(url), args.batch_size)
    if args.action == "upgrade":
        upgrade(url)
    elif args.action == "downgrade":
        downgrade(url, args.revision or "-1")
    db = Database(url)
    print(json.dumps({"database": db.engine.url.render_as_string(hide_password=True),
                      "current": current_revision(db.engine), "head": head_revision()}))
    db.dispose()
    return 0


def _db_reindex(db, batch_size: int) -> int:
    """Rebuild every search index row from the stored resources (see services.reindex)."""
    from gateway.services.reindex import reindex
    from gateway.store.migrate import current_revision, head_revision
    current, head = current_revision(db.engine), head_revision()
    if current != head:
        print(f"fhir-gateway: the database is at migration {current or 'none'}, this version "
              f"needs {head}; run `fhir-gateway db upgrade` first", file=sys.stderr)
        return 2
    try:
        summary = reindex(db, batch_size=batch_size, progress=lambda resources, rows: print(
            f"reindexed {resources} resources ({rows} index rows)", file=sys.stderr, flush=True))
    except ValueError as exc:
        print(f"fhir-gateway: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(json.dumps({"reindexed": summary.resources, "index_rows": summary.index_rows,
                      "batches": summary.batches, "seconds": summary.seconds, "analyzed": True}))
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    """`audit drain` chains the journaled read events now; `audit verify` drains first, then
    walks the chain (so it proves every event recorded so far, journaled ones included)."""
    from gateway.store.audit import AuditRepository
    from gateway.store.audit_drain import backlog_bytes, drain_journal
    from gateway.store.audit_journal import AuditJournal
    from gateway.store.db import Database
    settings = load_settings()
    db = Database(settings.resolved_database_url)
    journal_dir = Path(settings.resolved_audit_journal_dir)
    drained = None
    if journal_dir.is_dir():
        journal = AuditJournal(journal_dir)
        drained = drain_journal(db, journal)
        left = backlog_bytes(db, journal)
    if args.action == "drain":
        db.dispose()
        print(json.dumps({"drained": drained.drained if drained else 0,
                          "segments_removed": drained.removed if drained else 0,
                          "unreadable_lines": drained.unreadable if drained else 0,
                          "backlog_bytes": left if drained else 0}))
        return 0
    with db.read() as session:
        result = AuditRepository(session).verify()
    db.dispose()
    print(json.dumps({"ok": result.broken_id is None, "checked": result.checked,
                      "first_broken": result.broken_id, "reason": result.reason or None}))
    return 0 if result.broken_id is None else 1


def _cmd_listen(args: argparse.Namespace) -> int:
    import signal
    import threading

    from gateway.api.metrics import metered_inbound
    from gateway.app import create_app
    from gateway.services.inbound import InboundApplier
    from gateway.sync.inbound import InboundHandler
    from gateway.transports.mllp import MllpServer
    app = create_app()
    container = app.extensions["fhir_gateway"]
    backend = next((b for b in container.settings.backends if b.name == args.backend), None)
    if backend is None or backend.dialect != "hl7v2":
        raise ConfigError(f"listen --backend: no hl7v2 backend named {args.backend!r}")
    handler = InboundHandler(backend, container.profiles[backend.profile], InboundApplier(container.fhir))
    # counted by ACK code; with PROMETHEUS_MULTIPROC_DIR the gateway's /metrics shows them
    handler = metered_inbound(handler, backend.name, container.metrics)
    context = None
    if args.certfile:  # MLLP over TLS (1.2 minimum), optionally with client certificates
        from gateway.transports.tls import server_context
        context = server_context(args.certfile, args.keyfile, client_cafile=args.client_ca,
                                 require_client_cert=args.require_client_cert)
    elif args.client_ca or args.require_client_cert:
        raise ConfigError("listen: --client-ca/--require-client-cert need --certfile (TLS)")
    server = MllpServer(args.host, args.port, handler, ssl_context=context).start()
    scheme = "mllps" if context is not None else "mllp"
    print(json.dumps({"listening": f"{scheme}://{args.host}:{server.port}", "backend": backend.name}), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


def _cmd_clients(args: argparse.Namespace) -> int:
    from gateway.app import create_app
    from gateway.auth.launch import LaunchService
    container = create_app().extensions["fhir_gateway"]
    try:
        if args.jwks_url:
            from gateway.auth.backend_services import add_jwks_url_client
            created = add_jwks_url_client(container.auth, args.name, " ".join(args.scope), args.role,
                                          args.jwks_url)
        elif args.jwks:
            from gateway.auth.backend_services import add_jwks_client
            with open(args.jwks, encoding="utf-8") as fh:
                created = add_jwks_client(container.auth, args.name, " ".join(args.scope), args.role,
                                          json.load(fh))
        elif args.public:
            if not args.redirect_uri:
                raise ValueError("--public needs at least one --redirect-uri")
            created = LaunchService(container.auth).add_public_client(
                args.name, " ".join(args.scope), args.role, args.redirect_uri)
        else:
            created = container.auth.add_client(args.name, " ".join(args.scope), args.role)
    except ValueError as exc:
        print(f"fhir-gateway: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(created))
    return 0


def _cmd_dev_cert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gateway.devcert import write_dev_cert
    cert, key = write_dev_cert(Path(args.out), args.hostname)
    print(json.dumps({"certfile": str(cert), "keyfile": str(key)}))
    return 0


def _cmd_users(args: argparse.Namespace) -> int:
    import getpass

    from gateway.app import create_app
    from gateway.auth.launch import LaunchService
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
    if len(password) < 12:
        print("fhir-gateway: passwords must have at least 12 characters", file=sys.stderr)
        return 2
    try:
        practitioner = LaunchService(create_app().extensions["fhir_gateway"].auth).add_user(
            args.username, password, args.role, args.name)
    except ValueError as exc:
        print(f"fhir-gateway: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"username": args.username, "role": args.role,
                      "fhirUser": f"Practitioner/{practitioner}"}))
    return 0


def _cmd_launch(args: argparse.Namespace) -> int:
    """An EHR launch context, as the EHR side would create it (SMART app-launch.md EHR launch)."""
    from urllib.parse import urlencode

    from gateway.app import create_app
    from gateway.auth.launch import LAUNCH_LIFETIME, LaunchService
    from gateway.auth.tokens import AuthError
    from gateway.errors import FhirError
    from gateway.services.audit import Agent
    container = create_app().extensions["fhir_gateway"]
    iss = (args.iss or container.settings.base_url or "").rstrip("/")
    if not iss:
        print("fhir-gateway: the FHIR base URL is unknown: pass --iss or set base_url", file=sys.stderr)
        return 2
    try:
        container.fhir.read("Patient", args.patient, agent=Agent(client_id="fhir-gateway-cli",
                                                                  role="integration_admin"))
        launch = LaunchService(container.auth).create_launch(args.client_id, args.patient, args.user)
    except (AuthError, FhirError) as exc:
        print(f"fhir-gateway: {getattr(exc, 'description', None) or exc}", file=sys.stderr)
        return 2
    out = {"launch": launch, "iss": iss, "patient": args.patient,
           "expires_in": int(LAUNCH_LIFETIME.total_seconds())}
    if args.launch_url:
        separator = "&" if "?" in args.launch_url else "?"
        out["launch_url"] = f"{args.launch_url}{separator}{urlencode({'iss': iss, 'launch': launch})}"
    print(json.dumps(out))
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    """Token signing keys: list, rotate (a new key signs from now on), retire (drop keys no
    unexpired token can still be signed with)."""
    from gateway.app import create_app
    auth = create_app().extensions["fhir_gateway"].auth
    if args.action == "rotate":
        print(json.dumps({"rotated": True, "kid": auth.rotate_key()}))
    elif args.action == "retire":
        print(json.dumps({"retired": auth.retire_keys()}))
    else:
        print(json.dumps({"keys": auth.list_keys()}))
    return 0


def _scheduler(settings):
    """The scheduler over the configured housekeeping jobs, on a migrated database."""
    from gateway.store.db import Database
    from gateway.store.migrate import current_revision, head_revision
    from gateway.sync.housekeeping import housekeeping_jobs
    from gateway.sync.scheduler import Scheduler
    db = Database(settings.resolved_database_url)
    if current_revision(db.engine) != head_revision():
        db.dispose()
        raise ConfigError("database_url: the database is not at the current migration; run "
                          "`fhir-gateway db upgrade`")
    return Scheduler(db, housekeeping_jobs(settings, db))


def _cmd_scheduler(args: argparse.Namespace) -> int:
    """Run due jobs every scheduler_interval_seconds until SIGTERM (or one pass with --once)."""
    import signal
    import threading
    settings = load_settings()
    scheduler = _scheduler(settings)
    try:
        if args.once:
            runs = scheduler.run_due()
            print(json.dumps({"ran": [r.name for r in runs if r.ran],
                              "failed": [r.name for r in runs if r.ran and not r.ok]}))
            return 0 if all(r.ok is not False for r in runs) else 1
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        print(json.dumps({"scheduler": scheduler.holder,
                          "jobs": [job.name for job in scheduler.jobs]}), flush=True)
        scheduler.serve(stop, settings.scheduler_interval_seconds)
        return 0
    finally:
        scheduler.db.dispose()


def _cmd_jobs(args: argparse.Namespace) -> int:
    """`jobs list`: schedule and last outcomes; `jobs run NAME`: run one now."""
    scheduler = _scheduler(load_settings())
    try:
        if args.action == "list":
            print(json.dumps({"jobs": scheduler.status()}, indent=2))
            return 0
        if not args.name:
            print("jobs run needs a job name: " + ", ".join(j.name for j in scheduler.jobs), file=sys.stderr)
            return 2
        try:
            run = scheduler.run_now(args.name)
        except KeyError:
            print(f"no enabled job named {args.name!r}; enabled: "
                  + ", ".join(j.name for j in scheduler.jobs), file=sys.stderr)
            return 2
        if not run.ran:
            print(f"job {args.name} is running elsewhere (its lease is held)", file=sys.stderr)
            return 1
        print(json.dumps({"job": run.name, "ok": run.ok, "detail": run.detail}))
        return 0 if run.ok else 1
    finally:
        scheduler.db.dispose()


def _cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo
    return run_demo(port=args.port, data_dir=args.data_dir, host=args.host)


def _cmd_profiles(args: argparse.Namespace) -> int:
    from translators import cli_profiles
    if args.action == "list":
        code, text = cli_profiles.list_profiles()
    elif args.action == "check":
        code, text = cli_profiles.check_profiles(samples=Path(args.samples) if args.samples else None)
    elif args.action == "release":
        if not args.a or args.b:
            print("profiles release needs one profile key, e.g. local-store@1.1.0", file=sys.stderr)
            return 2
        try:
            code, text = 0, f"released {args.a}: sha256 {cli_profiles.release(args.a)}"
        except KeyError:
            code, text = 2, f"no profile {args.a!r}; see `fhir-gateway profiles list`"
    else:
        if not args.a or not args.b:
            print("profiles diff needs two profile keys: A B", file=sys.stderr)
            return 2
        code, text = cli_profiles.diff_profiles(args.a, args.b)
    print(text)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhir-gateway", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the FHIR API under gunicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--threads", type=int, default=1)
    serve.add_argument("--certfile")
    serve.add_argument("--keyfile")
    serve.set_defaults(func=_cmd_serve)

    db = sub.add_parser("db", help="database migrations; reindex rebuilds the search indexes")
    db.add_argument("action", choices=["upgrade", "downgrade", "current", "reindex"])
    db.add_argument("revision", nargs="?")
    db.add_argument("--batch-size", type=int, default=500, help="resources per transaction (reindex)")
    db.set_defaults(func=_cmd_db)

    listen = sub.add_parser("listen", help="receive a backend's HL7 v2 feed over MLLP")
    listen.add_argument("--backend", required=True, help="name of an hl7v2 backend in the config")
    listen.add_argument("--host", default="127.0.0.1")
    listen.add_argument("--port", type=int, default=2576)
    listen.add_argument("--certfile", help="serve MLLP over TLS with this certificate (PEM)")
    listen.add_argument("--keyfile", help="the certificate's private key (PEM)")
    listen.add_argument("--client-ca", help="ask senders for client certificates signed by this CA")
    listen.add_argument("--require-client-cert", action="store_true", help="refuse senders without one")
    listen.set_defaults(func=_cmd_listen)

    clients = sub.add_parser("clients", help="register OAuth2 / SMART clients")
    clients.add_argument("action", choices=["add"])
    clients.add_argument("name")
    clients.add_argument("--scope", nargs="+", required=True, help="SMART scopes, e.g. system/*.rs")
    clients.add_argument("--role", required=True,
                         choices=["front_desk", "clinician", "billing", "integration_admin", "auditor"])
    clients.add_argument("--public", action="store_true", help="a public app (PKCE, no secret)")
    clients.add_argument("--jwks", help="a JWKS file of the client's public keys (private_key_jwt)")
    clients.add_argument("--jwks-url", help="the https URL where the client publishes its JWKS")
    clients.add_argument("--redirect-uri", action="append", default=[])
    clients.set_defaults(func=_cmd_clients)

    users = sub.add_parser("users", help="staff users who sign in at the authorize step")
    users.add_argument("action", choices=["add"])
    users.add_argument("username")
    users.add_argument("--role", required=True,
                       choices=["front_desk", "clinician", "billing", "integration_admin", "auditor"])
    users.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    users.add_argument("--name", help="the person's name, 'Given Family', for their Practitioner")
    users.set_defaults(func=_cmd_users)

    launch = sub.add_parser("launch", help="create an EHR launch context for a SMART app")
    launch.add_argument("client_id")
    launch.add_argument("--patient", required=True, help="the Patient id to put in context")
    launch.add_argument("--user", help="the staff user the EHR says is signed in")
    launch.add_argument("--launch-url", help="the app's launch URL; prints it with iss and launch")
    launch.add_argument("--iss", help="the FHIR base URL (default: base_url from the config)")
    launch.set_defaults(func=_cmd_launch)

    keys = sub.add_parser("keys", help="token signing keys (published at /oauth/jwks)")
    keys.add_argument("action", choices=["list", "rotate", "retire"])
    keys.set_defaults(func=_cmd_keys)

    dev_cert = sub.add_parser("dev-cert", help="write a self-signed cert.pem/key.pem for local TLS")
    dev_cert.add_argument("--out", required=True)
    dev_cert.add_argument("--hostname", default="localhost")
    dev_cert.set_defaults(func=_cmd_dev_cert)

    audit = sub.add_parser("audit", help="audit trail tools")
    audit.add_argument("action", choices=["verify", "drain"],
                       help="verify: prove the hash chain is intact (after a drain); drain: chain "
                            "the journaled read events now")
    audit.set_defaults(func=_cmd_audit)

    scheduler = sub.add_parser("scheduler", help="run the scheduled batch jobs (housekeeping)")
    scheduler.add_argument("--once", action="store_true", help="one pass over the due jobs, then exit")
    scheduler.set_defaults(func=_cmd_scheduler)

    jobs = sub.add_parser("jobs", help="the scheduled jobs: their state, or run one now")
    jobs.add_argument("action", choices=["list", "run"])
    jobs.add_argument("name", nargs="?")
    jobs.set_defaults(func=_cmd_jobs)


    demo = sub.add_parser("demo", help="run the whole embedded stack on loopback with demo data")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--data-dir", default="var/demo")
    demo.set_defaults(func=_cmd_demo)

    profiles = sub.add_parser("profiles", help="list, check, diff and release translation profiles")
    profiles.add_argument("action", choices=["list", "check", "diff", "release"])
    profiles.add_argument("a", nargs="?")
    profiles.add_argument("b", nargs="?")
    profiles.add_argument("--samples", help="check: a folder of HL7 v2 sample messages to report "
                          "unmapped Z-segments in")
    profiles.set_defaults(func=_cmd_profiles)

    from gateway import cli_staff
    cli_staff.register(sub)  # worker, outbox, review
    from gateway.cli_subscriptions import register as register_subscription_commands
    register_subscription_commands(sub)  # notifier, subscriptions, notifications

    # Commands from other installed packages (the conformance toolkit and the sandbox EHRs)
    # plug in through an entry-point group, so gateway never imports conformance.
    for entry in entry_points(group="fhir_gateway.commands"):
        entry.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"fhir-gateway: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
