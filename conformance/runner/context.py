"""What every check group works with: the HTTP client, the report being written, the server's
CapabilityStatement and the resources created so far; and the CheckGroup record.

May import: stdlib, conformance.runner.{http,report}. Check groups plug in by convention: every
module in conformance/runner/checks/ that defines `GROUP = CheckGroup(...)` is run (see
conformance.runner.run.discover). The SMART group plugs in the same way, as a module of its own
with GROUP number "3".
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.runner.http import FhirHttp
from conformance.runner.report import Report


@dataclass(frozen=True)
class CheckGroup:
    number: str  # the first part of every check number in the group
    title: str
    order: int  # run order: the validation group runs last, over everything returned
    run: Callable[["Context"], None]


@dataclass
class Context:
    http: FhirHttp
    report: Report
    run_id: str
    options: dict = field(default_factory=dict)  # e.g. token, client_id, key (for SMART checks)
    statement: dict | None = None
    created: dict[str, list[dict]] = field(default_factory=dict)  # type -> resources made by the run

    def check(self, number: str, name: str, ok: bool, detail: str = "") -> bool:
        self.report.add(number, name, "pass" if ok else "fail", detail)
        return bool(ok)

    def skip(self, number: str, name: str, reason: str) -> None:
        self.report.add(number, name, "skip", reason)

    def warn(self, number: str, name: str, detail: str) -> None:
        self.report.add(number, name, "warn", detail)

    def rest(self) -> dict:
        return ((self.statement or {}).get("rest") or [{}])[0]

    def resources(self) -> dict[str, dict]:
        """The CapabilityStatement's rest.resource entries by type."""
        return {r["type"]: r for r in self.rest().get("resource", []) if "type" in r}

    def first(self, rtype: str) -> dict | None:
        made = self.created.get(rtype)
        return made[0] if made else None
