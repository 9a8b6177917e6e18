"""`fhir-gateway conformance run`: the plug-in command for the conformance toolkit.

May import: argparse, stdlib, conformance.runner. Registered through the entry-point group
`fhir_gateway.commands` (`conformance = "conformance.cli:register"`). The token is given
(--token) or obtained by client credentials (--client-id with --client-secret, or with --key for
SMART Backend Services). Exit code 1 when any check fails; the terminal gets the summary, the
report directory a JUnit XML and a Markdown report.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _token(args: argparse.Namespace) -> str | None:
    if args.token or not args.client_id:
        return args.token
    from conformance.runner.tokens import client_credentials
    return client_credentials(args.base, args.client_id, secret=args.client_secret,
                              key=Path(args.key) if args.key else None, scope=args.scope)


def _password(args: argparse.Namespace) -> str | None:
    """The staff password from an environment variable (never a command-line argument)."""
    import os
    return os.environ.get(args.password_env) if args.password_env else None


def _run(args: argparse.Namespace) -> int:
    from conformance.runner import run
    options = {"client_id": args.client_id, "client_secret": args.client_secret, "key": args.key,
               "launch_client_id": args.launch_client_id, "redirect_uri": args.redirect_uri,
               "username": args.username, "password": _password(args), "patient": args.patient,
               "backend_client_id": args.backend_client_id, "backend_key": args.backend_key}
    report = run(args.base, _token(args), timeout=args.timeout, **options)
    print(report.summary())
    junit, markdown = report.write(Path(args.report_dir))
    print(f"reports: {junit}, {markdown}", file=sys.stderr)
    return 1 if report.failures else 0


def register(subparsers) -> None:
    conformance = subparsers.add_parser("conformance", help="check a FHIR server's conformance")
    actions = conformance.add_subparsers(dest="conformance_action", required=True)
    run = actions.add_parser("run", help="exercise the server as a client would and report every check")
    run.add_argument("--base", required=True, help="the FHIR base URL, e.g. http://127.0.0.1:8080/fhir")
    run.add_argument("--token", help="a bearer token")
    run.add_argument("--client-id", help="get a token by client credentials instead")
    run.add_argument("--client-secret", help="the client's secret (client_secret_basic)")
    run.add_argument("--key", help="the client's private key, JWK or PEM (private_key_jwt)")
    run.add_argument("--scope", default="system/*.cruds")
    smart = run.add_argument_group("SMART launch through the login form, and Backend Services")
    smart.add_argument("--launch-client-id", help="a public client registered with --redirect-uri")
    smart.add_argument("--redirect-uri", help="that client's redirect URI (never followed)")
    smart.add_argument("--username", help="a staff user who signs in at the authorize step")
    smart.add_argument("--password-env", help="the environment variable holding that user's password")
    smart.add_argument("--patient", help="the patient to choose in the picker (default: the first)")
    smart.add_argument("--backend-client-id", help="a client registered with a JWKS (private_key_jwt)")
    smart.add_argument("--backend-key", help="that client's private key, JWK or PEM")
    run.add_argument("--timeout", type=float, default=30, help="seconds per request")
    run.add_argument("--report-dir", default="reports/conformance")
    run.set_defaults(func=_run)
