"""What the server asks of a Subscription beyond its R4 definition, checked before it is stored.

May import: gateway.errors, gateway.resources, gateway.services.search, stdlib. R4
subscription.html: the server accepts a Subscription only if it can honour it, and moves
`requested` to `active` itself. This server offers the rest-hook channel only; `criteria` is a
search URL `Type?params` on a type it serves and searches, every parameter one its search
engine runs (the same engine matches writes later, so a criterion accepted here cannot fail
there); the endpoint is https (http only to loopback, or with `subscription_allow_http`);
headers are `Name: value`. Each refusal is a 422 naming the element.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Mapping
from urllib.parse import parse_qsl, urlsplit

from gateway.errors import BadRequest, Issue, Unprocessable
from gateway.resources import resource_types
from gateway.services.search.params import IGNORED, RESULT_PARAMS, parse_search
from gateway.services.search.query import criterion_part

# Types whose writes never go through the resource store's write path, or that would notify
# about notifications: not subscribable.
UNSUBSCRIBABLE = frozenset({"AuditEvent", "Subscription", "Binary"})
PAYLOADS = ("application/fhir+json", "application/json")
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[ \t]*[^\r\n\x00]*$")  # RFC 9110 5.1, 5.5
# Framing and routing headers are the transport's to set, never a subscriber's.
_RESERVED = {"host", "content-length", "transfer-encoding", "connection", "content-type",
             "upgrade", "te", "trailer", "keep-alive", "proxy-connection"}


def _refuse(text: str, element: str, code: str = "business-rule") -> Unprocessable:
    return Unprocessable(text, issues=[Issue("error", code, text, (f"Subscription.{element}",))])


def criteria_parts(criteria: str) -> tuple[str, list[tuple[str, str]]]:
    """'Appointment?patient=Patient/1' -> ('Appointment', [('patient', 'Patient/1')])."""
    rtype, _, query = criteria.partition("?")
    return rtype, parse_qsl(query, keep_blank_values=True)


def check_criteria(criteria: object, searchable: set[str], base_url: str = "") -> tuple[str, list]:
    """The criteria's type and parameters, or a 422 naming what this server cannot match."""
    if not isinstance(criteria, str) or not criteria.strip():
        raise _refuse("Subscription.criteria is required: a search URL such as "
                      "Appointment?patient=Patient/123", "criteria", "required")
    rtype, params = criteria_parts(criteria)
    if "/" in rtype or ":" in rtype:
        raise _refuse(f"criteria {criteria!r} must be a relative search URL Type?params, "
                      "without a base URL", "criteria")
    if rtype not in searchable:
        raise _refuse(f"criteria type {rtype!r} is not one this server serves and searches "
                      f"(subscribable: {', '.join(sorted(searchable))})", "criteria", "not-supported")
    for name, _value in params:
        if name.split(":")[0] in RESULT_PARAMS or name in IGNORED:
            raise _refuse(f"criteria parameter {name!r} shapes a result, it does not select "
                          "resources: leave it out", "criteria")
    facts = resource_types()[rtype]
    try:
        request = parse_search(facts, params, resource_types(), default_count=1, max_count=1)
        if request.unknown:
            known = sorted(["_id", "_lastUpdated"] + [p.code for p in facts.search_params])
            raise _refuse(f"criteria parameter {request.unknown[0]!r} is not a search parameter "
                          f"this server supports for {rtype} (supported: {', '.join(known)})",
                          "criteria", "not-supported")
        for criterion in request.criteria:
            criterion_part(criterion, base_url, rtype)  # what matching will build: refusals now
    except BadRequest as exc:
        raise _refuse(f"criteria {criteria!r}: {exc.diagnostics}", "criteria") from None
    return rtype, params


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: object, allow_http: bool) -> None:
    if not isinstance(endpoint, str) or not endpoint:
        raise _refuse("a rest-hook Subscription needs channel.endpoint (the URL notifications "
                      "are sent to)", "channel.endpoint", "required")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _refuse("channel.endpoint must be an absolute https URL", "channel.endpoint")
    if parts.username is not None or parts.password is not None:
        raise _refuse("channel.endpoint must not carry credentials; send them as a "
                      "channel.header (Authorization: Bearer ...)", "channel.endpoint")
    if parts.scheme == "http" and not allow_http and not _loopback(parts.hostname):
        raise _refuse("channel.endpoint must use https (http is accepted only to a loopback "
                      "address, or where subscription_allow_http = true)", "channel.endpoint")


def check_headers(headers: object) -> None:
    for i, header in enumerate(headers or []):
        where = f"channel.header[{i}]"
        if not isinstance(header, str) or not _HEADER.match(header):
            raise _refuse(f"{where} must be one HTTP header 'Name: value' (a token name, no line "
                          "breaks)", where)
        if header.split(":", 1)[0].strip().lower() in _RESERVED:
            raise _refuse(f"{where}: header {header.split(':', 1)[0]!r} is set by the server",
                          where)


def _status(status: object) -> str:
    # R4 subscription.html#2.46.7: the client asks (`requested`), the server activates.
    if status in ("requested", "active"):
        return "active"
    if status == "off":
        return "off"
    raise _refuse(f"status {status!r} cannot be set by a client: send requested (or active) to "
                  "start notifications, off to stop them (error is the server's)", "status")


def admit(resource: dict, supported: Mapping[str, frozenset[str]], *, allow_http: bool,
          base_url: str = "") -> dict:
    """The Subscription as it will be stored (status set by the server), or a 422."""
    channel = resource.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise _refuse(f"channel.type {channel.get('type')!r} is not supported by this server: "
                      "only rest-hook", "channel.type", "not-supported")
    check_criteria(resource.get("criteria"), subscribable(supported), base_url)
    check_endpoint(channel.get("endpoint"), allow_http)
    payload = channel.get("payload")
    if payload is not None and payload.split(";")[0].strip() not in PAYLOADS:
        raise _refuse(f"channel.payload {payload!r} is not supported: omit it (a notification "
                      "without a body) or use application/fhir+json", "channel.payload",
                      "not-supported")
    check_headers(channel.get("header"))
    return dict(resource, status=_status(resource.get("status")))


def subscribable(supported: Mapping[str, frozenset[str]]) -> set[str]:
    known = resource_types()
    return {t for t, interactions in supported.items()
            if "search-type" in interactions and t in known and t not in UNSUBSCRIBABLE}


def implied_reads(resource_type: str, body: object,
                  supported: Mapping[str, frozenset[str]]) -> list[str]:
    """Types a write lets its author read: a Subscription delivers every matching resource of
    its criteria type, long after the token that created it expired."""
    if resource_type != "Subscription" or not isinstance(body, dict):
        return []
    criteria = body.get("criteria")
    rtype = criteria.partition("?")[0] if isinstance(criteria, str) else ""
    return [rtype] if rtype in subscribable(supported) else []
