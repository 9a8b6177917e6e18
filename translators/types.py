"""Frozen dataclasses at the translator seams: Profile and what a profile says it supports.

May import: stdlib only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

# FHIR RESTful interaction codes (http://hl7.org/fhir/R4/valueset-type-restful-interaction.html)
INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance",
                "history-type", "create", "search-type")


@dataclass(frozen=True)
class ResourceSupport:
    """What one profile can do for one resource type."""

    type: str
    interactions: tuple[str, ...]
    search_params: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    """A loaded, schema-checked translation profile version (immutable once released)."""

    id: str
    version: str
    dialect: str  # local | hl7v2 | rest
    backend_version: str
    description: str
    resources: Mapping[str, ResourceSupport]
    data: Mapping[str, Any] = field(repr=False, default_factory=dict)  # the whole document
    source: str = ""  # file name it came from
    sha256: str = ""  # content hash, checked against the lock file

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"


class ProfileError(ValueError):
    """A profile file is invalid; the message names the file, the path and the problem."""


class TranslationError(ValueError):
    """Input that does not fit the dialect or profile; `where` names the field or path."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


@dataclass(frozen=True)
class TranslateContext:
    """Everything non-deterministic a translation needs, passed in (so output is reproducible)."""

    now: datetime  # aware datetime: the message timestamp
    control_id: str
    backend_ids: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # resources the message needs besides the one translated (the Patient of an Appointment)
    related: Mapping[tuple[str, str], dict] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # backend options (authority, apps)


@dataclass(frozen=True)
class Hl7v2Message:
    text: str  # ER7, segments separated by \r
    message_type: str  # e.g. ADT^A04^ADT_A01
    control_id: str
    backend_id: str | None = None  # the id the backend will know the resource by (MRN)


@dataclass(frozen=True)
class MergeInstruction:
    """An inbound merge (ADT^A40): the surviving Patient as the message gives it (its MR
    identifier first) and the identifier of the Patient merged into it (MRG-1)."""

    surviving: Mapping[str, Any]
    merged_identifier: Mapping[str, str]

    @property
    def surviving_id(self) -> str:
        return str(self.surviving["identifier"][0]["value"])

    @property
    def merged_id(self) -> str:
        return str(self.merged_identifier["value"])


@dataclass(frozen=True)
class QueryResult:
    """What an EHR answered to a query: (backend id, FHIR resource) pairs, in its order."""

    matches: tuple[tuple[str, Mapping[str, Any]], ...]
    profile: str = ""  # the profile version that read the answer (recorded with the id map)
