"""The one result type every conformance validator returns.

May import: stdlib only. A Finding names the validator that found it, the resource it is about
(`resource_ref`: what the runner calls it, e.g. "Patient/12 (read)", or "#3" for the fourth item
of a batch), the element path, the message and a severity (`error` fails a check, `warning` is
reported only).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    validator: str
    resource_ref: str
    path: str
    message: str
    severity: str = "error"

    def line(self) -> str:
        return f"[{self.validator}] {self.resource_ref} {self.path}: {self.message}"


def refs_for(resources: Sequence[object], refs: Sequence[str] | None) -> list[str]:
    """The caller's names for a batch, or #index when it gave none."""
    if refs is None:
        return [f"#{i}" for i in range(len(resources))]
    if len(refs) != len(resources):
        raise ValueError("refs must name every resource of the batch")
    return list(refs)


def element_path(parts: Sequence[object]) -> str:
    """("name", 0, "family") -> "name[0].family"; () -> "(resource)"."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(resource)"
