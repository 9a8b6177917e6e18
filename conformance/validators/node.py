"""The Node validators (FHIR.js and the Asymmetrik JSON-schema validator), one process per batch.

May import: stdlib, conformance.validators.findings. `ensure_node_modules()` runs `npm ci` from
conformance/package-lock.json when conformance/node_modules is missing, so nothing is installed
by hand. The Asymmetrik validator checks a resource against the schema's top-level `oneOf` of
every resource type, so besides the specific errors it reports, per other type, a "should NOT
have additional properties" (no path) or a "resourceType: should be equal to constant", plus one
"should match exactly one schema in oneOf": those lines carry nothing beyond the specific errors
beside them and are folded away, but a result made only of them is still reported (as one
finding), never dropped.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from conformance.validators.findings import Finding, refs_for

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "node" / "validate.js"
NAMES = ("fhir.js", "asymmetrik")
# (path, message) of the lines every other branch of the schema's resource oneOf produces
_NOISE = {("", "should NOT have additional properties"), ("", "should match exactly one schema in oneOf"),
          ("resourceType", "should be equal to constant")}
_PACKAGES = ("fhir", "@asymmetrik/fhir-json-schema-validator")


def ensure_node_modules() -> None:
    """Install the locked Node validators into conformance/node_modules if they are missing."""
    if all((ROOT / "node_modules" / name / "package.json").is_file() for name in _PACKAGES):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm (Node.js 18+) is needed to install the conformance validators")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"npm ci failed in {ROOT}: {done.stderr[-2000:]}")


def _fold(validator: str, ref: str, messages: list[dict]) -> list[Finding]:
    specific = [m for m in messages if (m["path"], m["message"]) not in _NOISE]
    kept = specific or messages[:1]
    return [Finding(validator, ref, m["path"] or "(resource)", m["message"], m["severity"]) for m in kept]


def validate(resources: Sequence[dict], refs: Sequence[str] | None = None) -> list[Finding]:
    names = refs_for(resources, refs)
    if not resources:
        return []
    ensure_node_modules()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is needed for the Node validators")
    done = subprocess.run([node, str(SCRIPT)], input=json.dumps(list(resources)), capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{SCRIPT.name} failed: {done.stderr[-2000:]}")
    findings: list[Finding] = []
    for ref, result in zip(names, json.loads(done.stdout)):
        for validator in NAMES:
            findings += _fold(validator, ref, result[validator])
    return findings
