"""`fhir-gateway sandbox`: the plug-in command that runs both sandbox EHRs in the foreground.

Registered through the `fhir_gateway.commands` entry-point group, so the gateway's CLI never
imports this package. Prints one JSON line with the sandbox URLs once both are listening.
"""
from __future__ import annotations

import argparse
import json


def _run(args: argparse.Namespace) -> int:
    from conformance.sandbox.runner import run_sandboxes
    run_sandboxes(args.host, args.mllp_port, args.v2_http_port, args.rest_port, args.data_dir,
                  lambda info: print(json.dumps(info), flush=True))
    return 0


def register(subparsers) -> None:
    sandbox = subparsers.add_parser("sandbox", help="run the sandbox HL7 v2 (MLLP) and REST EHRs")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--mllp-port", type=int, default=2575)
    sandbox.add_argument("--v2-http-port", type=int, default=8091)
    sandbox.add_argument("--rest-port", type=int, default=8092)
    sandbox.add_argument("--data-dir", default="var/sandbox")
    sandbox.set_defaults(func=_run)
