"""Content negotiation and request parsing: Accept/_format, Content-Type, Prefer, JSON bodies.

May import: flask, werkzeug, gateway.errors, stdlib. Spec: FHIR R4 http.html#mime-type,
http.html#prefer, search.html#errors (handling).
"""
from __future__ import annotations

import base64
import json

from flask import Request

from gateway.errors import BadRequest, NotAcceptable, UnsupportedMediaType

FHIR_JSON = "application/fhir+json"
_JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir", "text/json"}
_FORMAT_ALIASES = {"json": FHIR_JSON, "application/json": FHIR_JSON, FHIR_JSON: FHIR_JSON,
                   "application/json+fhir": FHIR_JSON, "text/json": FHIR_JSON}
_XML = {"xml", "text/xml", "application/xml", "application/fhir+xml", "application/xml+fhir"}


# The Accept values real clients send, answered without parsing the header (every request
# pays for negotiation); anything else goes through the full q-value match below.
_PLAIN_ACCEPT = {None: FHIR_JSON, "": FHIR_JSON, "*/*": FHIR_JSON, FHIR_JSON: FHIR_JSON,
                 "application/json": "application/json"}


def response_format(request: Request) -> str:
    """The media type to answer with; 406 when only XML (or something else) is acceptable."""
    fmt = request.args.get("_format") if request.query_string else None
    if not fmt:
        plain = _PLAIN_ACCEPT.get(request.headers.get("Accept"))
        if plain is not None:
            return plain
    if fmt:
        fmt = fmt.strip().replace(" ", "+")  # a '+' in a query string arrives as a space
        if fmt in _FORMAT_ALIASES:
            return FHIR_JSON
        raise NotAcceptable(f"_format {fmt!r} is not supported; this server speaks "
                            "application/fhir+json" + (" (XML is not offered)" if fmt in _XML else ""))
    if not request.accept_mimetypes or request.accept_mimetypes.provided is False:
        return FHIR_JSON
    best = request.accept_mimetypes.best_match([FHIR_JSON, "application/json"])
    if best is None:
        raise NotAcceptable("Accept does not allow application/fhir+json or application/json")
    return best


def wants_raw_binary(request: Request) -> bool:
    """A Binary read answers with the raw content unless a FHIR format is asked for
    (R4 binary.html#rest)."""
    if request.args.get("_format"):
        return False
    accept = request.accept_mimetypes
    if not accept or not accept.provided:
        return True
    best = accept.best
    return best not in _JSON_TYPES and best not in _XML


def json_body(request: Request) -> object:
    """The parsed JSON body; 415 for a non-JSON media type, 400 for malformed JSON."""
    mimetype = request.mimetype
    if mimetype not in _JSON_TYPES:
        raise UnsupportedMediaType(f"Content-Type {request.content_type or '(none)'} is not supported; "
                                   "send application/fhir+json")
    raw = request.get_data(cache=False)
    if not raw:
        raise BadRequest("The request body is empty; a FHIR resource is required")
    try:
        text = raw.decode(request.mimetype_params.get("charset", "utf-8"))
        return json.loads(text, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, LookupError):
        raise BadRequest("The request body is not valid UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno}") from None


def _refuse_constant(name: str) -> object:
    # NaN/Infinity are not JSON (RFC 8259) and not valid FHIR decimals.
    raise json.JSONDecodeError(f"{name} is not allowed in JSON", name, 0)


def binary_from_raw(request: Request) -> dict:
    """A Binary resource built from a raw (non-FHIR) upload to /Binary."""
    raw = request.get_data(cache=False)
    return {"resourceType": "Binary", "contentType": request.mimetype or "application/octet-stream",
            "data": base64.b64encode(raw).decode("ascii")}


def prefer(request: Request) -> dict[str, str]:
    """The Prefer header as a dict: {'return': 'minimal', 'handling': 'strict'}."""
    out: dict[str, str] = {}
    for header in request.headers.getlist("Prefer"):
        for part in header.split(","):
            for token in part.split(";"):
                if "=" in token:
                    key, _, value = token.strip().partition("=")
                    out[key.strip().lower()] = value.strip().strip('"')
    return out


def is_json_content(request: Request) -> bool:
    return request.mimetype in _JSON_TYPES
