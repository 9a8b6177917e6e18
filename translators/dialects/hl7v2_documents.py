"""Document content in OBX segments (MDM^T02): FHIR Attachment <-> OBX-5 ED / TX. Pure.

May import: stdlib, translators.er7, translators.types. HL7 v2.5.1 2.A.24 ED (encapsulated
data): 1 source application, 2 type of data, 3 data subtype, 4 encoding, 5 data; we write
contentType "application/pdf" as ED-2 "application" + ED-3 "pdf" with Base64 encoding, as the
v2-to-FHIR IG ED[Attachment] map reads it. Inbound TX/FT lines (text documents, OBX[Document-
Reference] map: OBX-2 TX -> content.data) are joined with newlines into one text/plain
attachment; text/plain goes back out as one TX OBX per line, so such messages round-trip.
"""
from __future__ import annotations

import base64
import binascii

from translators.er7 import Delimiters, Message, escape, unescape
from translators.types import TranslateContext, TranslationError

_TEXT_TYPES = ("TX", "FT")


def _attachment_data(attachment: dict, ctx: TranslateContext) -> tuple[str, str]:
    """(contentType, base64 data): inline data, or the referenced Binary from ctx.related."""
    content_type, data = attachment.get("contentType", ""), attachment.get("data")
    url = str(attachment.get("url", ""))
    if data is None and url.startswith("Binary/"):
        binary = ctx.related.get(("Binary", url.split("/", 1)[1]))
        if binary is None:
            raise TranslationError("content.attachment.url", f"{url} is not available to send")
        content_type, data = content_type or binary.get("contentType", ""), binary.get("data")
    if not data:
        raise TranslationError("content.attachment", "the document has no data (inline or Binary) to send")
    if "/" not in content_type:
        raise TranslationError("content.attachment.contentType", f"{content_type!r} is not a MIME type")
    return content_type, data


def render_obx(rule: dict, attachment, ctx: TranslateContext, d: Delimiters) -> list[str]:
    """The OBX segments carrying one Attachment (ED, or TX lines for text/plain)."""
    if not isinstance(attachment, dict):
        raise TranslationError(rule["fhir"], "the document has no attachment")
    content_type, data = _attachment_data(attachment, ctx)
    identifier = d.component.join(escape(p, d) for p in rule.get("observation_id", ["DOC", "Document", "L"]))
    if content_type.split(";")[0] == "text/plain":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise TranslationError("content.attachment.data", "text/plain data is not base64 UTF-8") from None
        return [d.field.join(["OBX", str(i), "TX", identifier, "", escape(line, d), "", "", "", "", "", "F"])
                for i, line in enumerate(text.split("\n"), start=1)]
    major, minor = content_type.split(";")[0].split("/", 1)
    # Base64 uses no HL7 delimiter, so the data goes in unescaped and stays byte for byte.
    value = d.component.join(["", escape(major, d), escape(minor, d), "Base64", data])
    return [d.field.join(["OBX", "1", "ED", identifier, "", value, "", "", "", "", "", "F"])]


def read_obx(message: Message) -> dict:
    """One Attachment from the message's ED or TX/FT OBX segments; TranslationError if none."""
    d, texts = message.delimiters, []
    for segment in message.segments:
        if segment[0] != "OBX" or len(segment) < 6:
            continue
        value_type = segment[2].split(d.component)[0]
        if value_type == "ED":
            return _read_ed(segment[5], d)
        if value_type in _TEXT_TYPES:
            texts.extend(unescape(rep, d) for rep in segment[5].split(d.repetition))
    if not texts:
        raise TranslationError("OBX-5", "no document content (OBX with value type ED, TX or FT)")
    data = base64.b64encode("\n".join(texts).encode("utf-8")).decode("ascii")
    return {"contentType": "text/plain", "data": data}


def _read_ed(raw: str, d: Delimiters) -> dict:
    parts = [unescape(p, d) for p in raw.split(d.component)] + [""] * 5
    major, minor, encoding, data = parts[1], parts[2], parts[3], parts[4]
    if not major or not minor:
        raise TranslationError("OBX-5.2", "encapsulated data without type and subtype of data")
    attachment = {"contentType": f"{major.lower()}/{minor.lower()}"}
    if data:
        if encoding.upper() not in ("BASE64", "A"):  # table 0299: A = no encoding (ASCII text)
            raise TranslationError("OBX-5.4", f"encoding {encoding!r} is not supported (Base64 or A)")
        if encoding.upper() == "A":
            data = base64.b64encode(data.encode("utf-8")).decode("ascii")
        try:
            base64.b64decode(data, validate=True)
        except binascii.Error:
            raise TranslationError("OBX-5.5", "encapsulated data is not valid Base64") from None
        attachment["data"] = data
    return attachment
