"""`run(base_url, token=None) -> Report`: every check group against a FHIR server, over HTTP only.

May import: stdlib, importlib, conformance.runner.*. Check groups are found by scan: each module
of conformance.runner.checks defining `GROUP` (a CheckGroup) runs, in `order`. Another group
(the SMART checks) plugs in by adding a module there; nothing here changes. A group that raises
is reported as a failed check naming the exception, and the remaining groups still run.
"""
from __future__ import annotations

import importlib
import pkgutil
import time
import uuid

from conformance.runner import checks
from conformance.runner.context import CheckGroup, Context
from conformance.runner.http import FhirHttp
from conformance.runner.report import Report


def discover() -> list[CheckGroup]:
    groups = []
    for info in pkgutil.iter_modules(checks.__path__):
        module = importlib.import_module(f"{checks.__name__}.{info.name}")
        group = getattr(module, "GROUP", None)
        if isinstance(group, CheckGroup):
            groups.append(group)
    return sorted(groups, key=lambda g: g.order)


def run(base_url: str, token: str | None = None, *, groups: list[CheckGroup] | None = None,
        timeout: float = 30, **options) -> Report:
    """Run the check groups (all discovered ones by default); `options` reach the groups."""
    started = time.monotonic()
    ctx = Context(FhirHttp(base_url, token, timeout), Report(base_url.rstrip("/")), uuid.uuid4().hex[:10],
                  dict(options, token=token))
    for group in discover() if groups is None else groups:
        try:
            group.run(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken group must not hide the others' results
            ctx.check(f"{group.number}.x", f"{group.title}: the group ran to the end", False,
                      f"{type(exc).__name__}: {exc}")
    ctx.report.seconds = time.monotonic() - started
    return ctx.report
