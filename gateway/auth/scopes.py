"""SMART scope grammar (v1 and v2) and what a set of scopes allows. Pure.

May import: stdlib only. SMART App Launch 2.x scopes-and-launch-context: v1 `patient/Patient.read`,
`user/*.write`, `system/*.*`; v2 `patient/Patient.rs`, `system/Appointment.cruds` (letters in
c r u d s order). Interactions map to letters: create c, read/vread/history-instance r,
update u, delete d, search-type/history-type s.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_V2 = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(c?r?u?d?s?)$")
_V1 = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*)$")
_V1_LETTERS = {"read": "rs", "write": "cud", "*": "cruds"}
INTERACTION_LETTER = {"create": "c", "read": "r", "vread": "r", "history-instance": "r",
                      "update": "u", "delete": "d", "search-type": "s", "history-type": "s"}
# scopes that are not resource access (launch context, identity, refresh)
NON_RESOURCE = {"openid", "fhirUser", "profile", "launch", "launch/patient", "online_access",
                "offline_access"}


@dataclass(frozen=True)
class Scope:
    context: str  # patient | user | system
    resource: str  # a type or "*"
    letters: frozenset[str]

    def grants(self, resource_type: str, letter: str) -> bool:
        return self.resource in ("*", resource_type) and letter in self.letters

    def within(self, other: "Scope") -> bool:
        return (other.context == self.context and other.resource in ("*", self.resource)
                and self.letters <= other.letters)


def parse_scope(text: str) -> Scope | None:
    """A resource scope, or None for launch/identity scopes; ValueError when malformed."""
    if text in NON_RESOURCE:
        return None
    match = _V2.match(text)
    if match and match.group(3):
        return Scope(match.group(1), match.group(2), frozenset(match.group(3)))
    match = _V1.match(text)
    if match:
        return Scope(match.group(1), match.group(2), frozenset(_V1_LETTERS[match.group(3)]))
    raise ValueError(f"not a SMART scope: {text!r}")


def parse_scopes(text: str) -> list[Scope]:
    return [s for s in (parse_scope(t) for t in text.split()) if s is not None]


def allowed(scopes: list[Scope], resource_type: str, interaction: str) -> set[str]:
    """The contexts (patient/user/system) under which `interaction` on the type is granted."""
    letter = INTERACTION_LETTER.get(interaction)
    if letter is None:
        return set()
    return {s.context for s in scopes if s.grants(resource_type, letter)}


def _letters(letters: frozenset[str]) -> str:
    return "".join(c for c in "cruds" if c in letters)


def cap(requested: str, ceiling: str) -> str:
    """What may be granted of `requested` within `ceiling`: each scope intersected with each
    limit of the same context (e.g. system/*.cruds under system/Coverage.rs gives
    system/Coverage.rs). Launch and identity scopes pass through. Malformed scopes raise."""
    limits = parse_scopes(ceiling)
    granted: list[str] = []
    for text in requested.split():
        scope = parse_scope(text)
        if scope is None:
            granted.append(text)
            continue
        if any(scope.within(limit) for limit in limits):
            granted.append(text)  # fully within: keep the client's own spelling (v1 or v2)
            continue
        for limit in limits:
            if limit.context != scope.context or (scope.resource != "*" and limit.resource
                                                  not in ("*", scope.resource)):
                continue
            letters = scope.letters & limit.letters
            resource = scope.resource if scope.resource != "*" else limit.resource
            if letters:
                granted.append(f"{scope.context}/{resource}.{_letters(letters)}")
    return " ".join(dict.fromkeys(granted))
