"""Send ADT/SIU messages from the sandbox v2 EHR to another MLLP listener (the gateway's
inbound listener) and report what each was answered.

May import: stdlib and gateway.transports.mllp (the gateway's own MLLP client).
"""
from __future__ import annotations

import re

from gateway.transports.mllp import MllpClient, MllpError, classify_ack

MAX_MESSAGES = 1000


def normalise(message: str) -> str:
    """Segments end with CR on the wire (v2.5.1 section 2.5); JSON authors write LF."""
    return re.sub(r"\r\n|\n", "\r", message.strip("\r\n")) + "\r"


def _control_id(message: str) -> str:
    first = message.split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 8:
        return ""
    fields = first.split(first[3])
    return fields[9] if len(fields) > 9 else ""


def feed(host: str, port: int, messages: list[str], *, timeout: float = 10.0,
         charset: str = "utf-8") -> list[dict]:
    """Send each message over one connection; one result per message, in order:
    {control_id, ack_code, kind, error_text, ack (raw reply) | error (transport failure)}."""
    results = []
    with MllpClient(host, port, connect_timeout=timeout, read_timeout=timeout,
                    charset=charset) as client:
        for message in messages:
            text = normalise(message)
            result: dict = {"control_id": _control_id(text)}
            try:
                reply = client.send(text)
                result["ack"] = reply
                ack = classify_ack(reply)
                result.update(ack_code=ack.code, kind=ack.kind, error_text=ack.error_text)
            except MllpError as exc:
                result.update(error=f"{type(exc).__name__}: {exc}", sent=exc.sent)
            results.append(result)
    return results


def parse_feed_request(body: object) -> tuple[str, int, list[str], float]:
    """Validate {"host", "port", "message": str | [str], "timeout"?}; ValueError says why."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    host, port = body.get("host", "127.0.0.1"), body.get("port")
    if not isinstance(host, str) or not host:
        raise ValueError("host must be a non-empty string")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError("port must be an integer between 1 and 65535")
    messages = body.get("message", body.get("messages"))
    if isinstance(messages, str):
        messages = [messages]
    if (not isinstance(messages, list) or not messages or len(messages) > MAX_MESSAGES
            or not all(isinstance(m, str) and m.strip() for m in messages)):
        raise ValueError(f"message must be an HL7 message or a list of 1..{MAX_MESSAGES} messages")
    timeout = body.get("timeout", 10.0)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 120:
        raise ValueError("timeout must be a number of seconds in (0, 120]")
    return host, port, messages, float(timeout)
