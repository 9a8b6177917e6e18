"""Group 3: the SMART checks (conformance/runner/smart.py, numbered S.<item> like
../shared/design/smart-checklist.md), plugged into the runner as a check group.

May import: conformance.runner.{context,smart}. Runs only when the CapabilityStatement declares
rest.security (a server without authorization has no SMART surface to check); the client
credentials for the token checks come from the run's options (client_id, client_secret); the
login-form flow needs launch_client_id, redirect_uri, username, password (patient optional);
Backend Services needs backend_client_id and backend_key (a private JWK or PEM file).
"""
from __future__ import annotations

from conformance.runner.context import CheckGroup, Context
from conformance.runner.smart import run_smart


def run(ctx: Context) -> None:
    if not ctx.rest().get("security"):
        ctx.skip("S.0", "SMART checks", "the CapabilityStatement declares no rest.security")
        return
    run_smart(ctx.report, ctx.http.base, ctx.options.get("client_id"), ctx.options.get("client_secret"),
              ctx.options)


GROUP = CheckGroup("3", "SMART App Launch and Backend Services (no browser)", 30, run)
