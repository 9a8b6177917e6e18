"""Building FHIR HTTP responses: media type, ETag, Last-Modified, Location, Prefer: return.

May import: flask, gateway.services.canonical (pure helpers), stdlib.
"""
from __future__ import annotations

import json

from flask import Response, request

from gateway.api.negotiation import FHIR_JSON, prefer
from gateway.services.canonical import http_date, to_json


def fhir_response(body: dict | str | bytes | None, status: int = 200, headers: dict | None = None,
                  mimetype: str = FHIR_JSON) -> Response:
    """A response whose body is a resource dict or already-serialized canonical JSON text."""
    pretty = bool(request.query_string) and request.args.get("_pretty") == "true"
    if isinstance(body, str) and body and pretty:
        body = json.loads(body)  # stored canonical text is compact; re-indent only on request
    if isinstance(body, dict):
        text = json.dumps(body, ensure_ascii=False, indent=2) if pretty else to_json(body)
    else:
        text = body or ""
    # content_type given whole and headers at construction: one Headers build per response
    content_type = f"{mimetype}; charset=utf-8" if mimetype in (FHIR_JSON, "application/json") else mimetype
    return Response(text, status=status, headers=headers, content_type=content_type)


def version_headers(stored, base_url: str = "", *, location: bool = False) -> dict:
    headers = {"ETag": f'W/"{stored.version_id}"', "Last-Modified": http_date(stored.last_updated)}
    if location:
        headers["Location"] = (f"{base_url}/{stored.resource_type}/{stored.id}"
                               f"/_history/{stored.version_id}")
    return headers


def write_response(stored, status: int, base_url: str, outcome: dict,
                   extra_headers: dict[str, str] | None = None) -> Response:
    """Honour Prefer: return=minimal | representation (default) | OperationOutcome."""
    headers = version_headers(stored, base_url, location=True) | (extra_headers or {})
    choice = prefer(request).get("return", "representation")
    if choice == "minimal":
        return fhir_response(None, status, headers)
    if choice == "OperationOutcome":
        return fhir_response(outcome, status, headers)
    return fhir_response(stored.content, status, headers)
