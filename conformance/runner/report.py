"""Check results and the three report forms: terminal summary, JUnit XML, Markdown.

May import: stdlib. Every check is listed with its outcome so the report can go to an auditor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr


@dataclass(frozen=True)
class Check:
    number: str
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    base: str
    checks: list[Check] = field(default_factory=list)

    def add(self, number: str, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(number, name, bool(ok), detail[:1000]))
        return bool(ok)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        lines = [f"{'PASS' if c.ok else 'FAIL'} {c.number} {c.name}" + (f" — {c.detail}" if not c.ok else "")
                 for c in self.checks]
        lines.append(f"{len(self.checks)} checks, {len(self.failures)} failed, against {self.base}")
        return "\n".join(lines)

    def junit(self) -> str:
        cases = []
        for c in self.checks:
            body = "" if c.ok else f"<failure message={quoteattr(c.detail or 'failed')}/>"
            cases.append(f'<testcase classname="conformance" name={quoteattr(f"{c.number} {c.name}")}>{body}</testcase>')
        return (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="fhir-gateway conformance" '
                f'tests="{len(self.checks)}" failures="{len(self.failures)}">' + "".join(cases) + "</testsuite>\n")

    def markdown(self) -> str:
        rows = [f"| {c.number} | {escape(c.name)} | {'pass' if c.ok else 'FAIL'} | {escape(c.detail).replace('|', '/')} |"
                for c in self.checks]
        return (f"# Conformance report for {self.base}\n\n{len(self.checks)} checks, "
                f"{len(self.failures)} failed.\n\n| # | check | outcome | detail |\n|---|---|---|---|\n"
                + "\n".join(rows) + "\n")

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "conformance.xml").write_text(self.junit(), encoding="utf-8")
        (directory / "conformance.md").write_text(self.markdown(), encoding="utf-8")
