"""Check results and the three report forms: terminal summary, JUnit XML and Markdown.

May import: stdlib, conformance.validators.findings. Every check is listed with its number, name,
outcome and detail, and every validator finding (and every known false positive set aside, with
its reason) is listed under the checks, so the report can go to an auditor as it is.
Outcomes: pass; fail (an error: the exit code is non-zero); warn (reported, not an error); skip
(could not be exercised, with the reason).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from conformance.validators.findings import Finding

OUTCOMES = ("pass", "fail", "warn", "skip")


@dataclass(frozen=True)
class Check:
    number: str
    name: str
    outcome: str
    detail: str = ""


@dataclass
class Report:
    base: str
    checks: list[Check] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    set_aside: list[tuple[Finding, str]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, number: str, name: str, outcome: str | bool, detail: str = "") -> Check:
        """Record a check; a bool outcome means pass (True) or fail (False)."""
        if isinstance(outcome, bool) or outcome is None:
            outcome = "pass" if outcome else "fail"
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        check = Check(number, name, outcome, detail[:2000])
        self.checks.append(check)
        return check

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.outcome == "fail"]

    def counts(self) -> dict[str, int]:
        return {o: sum(1 for c in self.checks if c.outcome == o) for o in OUTCOMES}

    def summary(self) -> str:
        lines = [f"{c.outcome.upper():4} {c.number} {c.name}" + (f" — {c.detail}" if c.outcome != "pass" else "")
                 for c in self.checks]
        counts = ", ".join(f"{n} {o}" for o, n in self.counts().items())
        lines.append(f"{len(self.checks)} checks against {self.base}: {counts} ({self.seconds:.1f} s)")
        return "\n".join(lines)

    def junit(self) -> str:
        cases = []
        for c in self.checks:
            body = {"fail": f"<failure message={quoteattr(c.detail or 'failed')}/>",
                    "skip": f"<skipped message={quoteattr(c.detail)}/>"}.get(c.outcome, "")
            if c.outcome == "warn":
                body = f"<system-out>{_xml_text('warning: ' + c.detail)}</system-out>"
            name = quoteattr(f"{c.number} {c.name}")
            cases.append(f'  <testcase classname="conformance" name={name}>{body}</testcase>')
        counts = self.counts()
        return ('<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="fhir-gateway conformance" '
                f'tests="{len(self.checks)}" failures="{counts["fail"]}" errors="0" '
                f'skipped="{counts["skip"]}" time="{self.seconds:.3f}">\n' + "\n".join(cases) + "\n</testsuite>\n")

    def markdown(self) -> str:
        counts = ", ".join(f"{n} {o}" for o, n in self.counts().items())
        out = [f"# Conformance report for {self.base}", "", f"{len(self.checks)} checks: {counts}.", "",
               "| # | check | outcome | detail |", "|---|---|---|---|"]
        out += [f"| {c.number} | {_cell(c.name)} | {c.outcome.upper() if c.outcome == 'fail' else c.outcome} "
                f"| {_cell(c.detail)} |" for c in self.checks]
        out += ["", "## Validator findings", ""]
        out += [f"- {f.severity}: {_cell(f.line())}" for f in self.findings] or ["None."]
        out += ["", "## Known false positives set aside", ""]
        out += [f"- {_cell(f.line())} — {_cell(reason)}" for f, reason in self.set_aside] or ["None."]
        return "\n".join(out) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        junit, markdown = directory / "conformance.xml", directory / "conformance.md"
        junit.write_text(self.junit(), encoding="utf-8")
        markdown.write_text(self.markdown(), encoding="utf-8")
        return junit, markdown


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
