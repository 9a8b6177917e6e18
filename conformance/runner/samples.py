"""Realistic data for the runner to create: conformance/samples/<Type>.json with placeholders.

May import: stdlib. `{run}` becomes the run id (copy n of a sample gets `<run>-<n>`, so every
instance has its own identifier), `{<Type>}` the id of the first resource of that type the run
created (a Patient for the Appointment's participant, a Binary for the DocumentReference).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# referenced types first, so the samples that point at them can be filled in
# (an eligibility check asks about the run's Coverage; its answer is then there to exercise)
ORDER = ("Binary", "Patient", "Coverage", "CoverageEligibilityRequest", "CoverageEligibilityResponse",
         "Appointment", "DocumentReference")
_PLACEHOLDER = re.compile(r"\{([A-Z][A-Za-z]+)\}")


def ordered(types: list[str]) -> list[str]:
    return sorted(types, key=lambda t: (ORDER.index(t) if t in ORDER else len(ORDER), t))


def sample(rtype: str, run_id: str, ids: dict[str, str], copy: int = 0) -> dict | None:
    """The sample for `rtype` filled in; None when there is none or a referenced type is missing."""
    path = SAMPLES / f"{rtype}.json"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").replace("{run}", run_id if copy == 0 else f"{run_id}-{copy}")
    missing = [name for name in _PLACEHOLDER.findall(text) if name not in ids]
    if missing:
        return None
    return json.loads(_PLACEHOLDER.sub(lambda m: ids[m.group(1)], text))


def changed(resource: dict, run_id: str) -> dict:
    """A copy with one visible change, for the update check: an added identifier, or new data."""
    body = json.loads(json.dumps(resource))
    if resource.get("resourceType") == "Binary":
        body["data"] = "VXBkYXRlZCBieSB0aGUgY29uZm9ybWFuY2UgcnVu"  # "Updated by the conformance run"
    elif resource.get("resourceType") == "Subscription":  # R4 Subscription has no identifier
        body["reason"] = f"Updated by the conformance run {run_id}"
    else:
        body.setdefault("identifier", []).append({"system": "urn:fhir-gateway:conformance", "value": f"upd-{run_id}"})
    return body


def looks_changed(before: dict, after: dict) -> bool:
    keys = ("identifier", "data", "reason")
    return any(before.get(k) != after.get(k) for k in keys)
