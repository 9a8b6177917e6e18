"""The Node validators (FHIR.js and the Asymmetrik JSON-schema validator), one process per batch.

May import: stdlib. `npm ci` installs them from conformance/package-lock.json on first use, so
nothing is installed by hand. Each returned finding names the validator, the resource index,
the path and the message. The Asymmetrik validator reports every branch of the schema's
resource `oneOf` as "should NOT have additional properties" with no path; those lines carry no
information beyond the specific errors next to them, so they are folded into one count (a
narrow rule: a result made only of them is still reported).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "node" / "validate.js"
_NOISE = (": should NOT have additional properties", ": should match exactly one schema in oneOf")


@dataclass(frozen=True)
class Finding:
    validator: str
    index: int
    path: str
    message: str


def ensure_node_modules() -> None:
    if (ROOT / "node_modules" / "fhir").is_dir() and (ROOT / "node_modules" / "@asymmetrik").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed for the Node validators (Node.js 18+)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)


def _fold(validator: str, index: int, messages: list[str]) -> list[Finding]:
    specific = [m for m in messages if m not in _NOISE]
    kept = specific or messages[:1]
    out = []
    for message in kept:
        path, _, text = message.partition(": ")
        out.append(Finding(validator, index, path.lstrip(".") or "(resource)", text or message))
    return out


def validate_batch(resources: list[dict]) -> list[Finding]:
    ensure_node_modules()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is needed for the Node validators")
    done = subprocess.run([node, str(SCRIPT)], input=json.dumps(resources), capture_output=True,
                          text=True, timeout=300, check=True)
    findings: list[Finding] = []
    for index, result in enumerate(json.loads(done.stdout)):
        for validator, messages in result.items():
            findings += _fold(validator, index, messages)
    return findings
