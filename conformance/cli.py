"""`fhir-gateway conformance run`: the plug-in command for the conformance toolkit.

Registered through the `fhir_gateway.commands` entry-point group. Exit code 1 when any check
fails; the terminal gets a summary, the report directory a JUnit XML and a Markdown report.
"""
from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import requests


def _token(args: argparse.Namespace) -> str | None:
    if args.token or not args.client_id:
        return args.token
    token_url = args.base.rstrip("/").rsplit("/fhir", 1)[0] + "/oauth/token"
    basic = base64.b64encode(f"{args.client_id}:{args.client_secret}".encode()).decode()
    response = requests.post(token_url, data={"grant_type": "client_credentials", "scope": args.scope},
                             headers={"Authorization": f"Basic {basic}"}, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def _run(args: argparse.Namespace) -> int:
    from conformance.runner.run import Runner
    report = Runner(args.base, _token(args), client_id=args.client_id,
                    client_secret=args.client_secret).run()
    print(report.summary())
    report.write(Path(args.report_dir))
    print(f"reports: {Path(args.report_dir) / 'conformance.xml'}, {Path(args.report_dir) / 'conformance.md'}",
          file=sys.stderr)
    return 1 if report.failures else 0


def register(subparsers) -> None:
    conformance = subparsers.add_parser("conformance", help="check a FHIR server's conformance")
    actions = conformance.add_subparsers(dest="conformance_action", required=True)
    run = actions.add_parser("run", help="exercise the server and report every check")
    run.add_argument("--base", required=True, help="the FHIR base URL")
    run.add_argument("--token", help="a bearer token")
    run.add_argument("--client-id", help="get a token by client credentials instead")
    run.add_argument("--client-secret", default="")
    run.add_argument("--scope", default="system/*.cruds")
    run.add_argument("--report-dir", default="reports/conformance")
    run.set_defaults(func=_run)
