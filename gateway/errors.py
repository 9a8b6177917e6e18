"""FhirError hierarchy and the one place an OperationOutcome is built.

May import: stdlib only. Services and views raise these; `gateway.api.errors` renders them.
Issue codes are from http://hl7.org/fhir/R4/valueset-issue-type.html.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: severity, code, human text and the FHIRPath it is about."""

    severity: str  # fatal | error | warning | information
    code: str  # issue-type code: invalid, structure, required, value, not-found, ...
    diagnostics: str
    expression: tuple[str, ...] = ()

    def to_fhir(self) -> dict:
        out = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def operation_outcome(issues: list[Issue] | tuple[Issue, ...], outcome_id: str | None = None) -> dict:
    """The OperationOutcome resource for a list of issues (at least one issue is required)."""
    if not issues:
        issues = [Issue("information", "informational", "All OK")]
    body: dict = {"resourceType": "OperationOutcome"}
    if outcome_id:
        body["id"] = outcome_id
    body["issue"] = [issue.to_fhir() for issue in issues]
    return body


@dataclass
class FhirError(Exception):
    """An error that leaves the API as an OperationOutcome with `status`."""

    diagnostics: str
    expression: tuple[str, ...] = ()
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    status = 400
    code = "processing"

    def __post_init__(self) -> None:
        super().__init__(self.diagnostics)
        if not self.issues:
            self.issues = [Issue("error", self.code, self.diagnostics, tuple(self.expression))]

    def outcome(self) -> dict:
        return operation_outcome(self.issues)


class BadRequest(FhirError):
    status, code = 400, "invalid"


class InvalidResource(FhirError):
    """The body is not a valid FHIR resource; `issues` carries one entry per problem."""

    status, code = 400, "invalid"


class Unauthorized(FhirError):
    status, code = 401, "login"


class Forbidden(FhirError):
    status, code = 403, "forbidden"


class NotFound(FhirError):
    status, code = 404, "not-found"


class MethodNotAllowed(FhirError):
    status, code = 405, "not-supported"


class NotAcceptable(FhirError):
    status, code = 406, "not-supported"


class Conflict(FhirError):
    status, code = 409, "conflict"


class Gone(FhirError):
    status, code = 410, "deleted"


class PreconditionFailed(FhirError):
    status, code = 412, "conflict"


class PayloadTooLarge(FhirError):
    status, code = 413, "too-costly"


class UnsupportedMediaType(FhirError):
    status, code = 415, "not-supported"


class Unprocessable(FhirError):
    """Business-rule refusal, e.g. a backend EHR permanently refused the write (422)."""

    status, code = 422, "business-rule"


class TooManyRequests(FhirError):
    status, code = 429, "throttled"


class ServiceUnavailable(FhirError):
    """A backend is unreachable; carries Retry-After. Nothing is reported as delivered."""

    status, code = 503, "transient"
