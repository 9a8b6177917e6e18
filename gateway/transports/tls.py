"""TLS contexts for the transports: TLS 1.2 minimum, optional client certificates.

May import: stdlib (ssl) only. Building contexts in one place keeps the floor (TLS 1.2,
certificate and host-name checks on) from drifting between the MLLP client and listener.
"""
from __future__ import annotations

import ssl


def client_context(cafile: str | None = None, *, certfile: str | None = None,
                   keyfile: str | None = None, check_hostname: bool = True) -> ssl.SSLContext:
    """A client context trusting `cafile` (or the system store), presenting a client
    certificate when `certfile` is given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    if certfile:
        context.load_cert_chain(certfile, keyfile)
    return context


def server_context(certfile: str, keyfile: str | None = None, *,
                   client_cafile: str | None = None,
                   require_client_cert: bool = False) -> ssl.SSLContext:
    """A server context with its certificate; with `client_cafile` it asks for client
    certificates signed by that CA (and refuses clients without one if required)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if client_cafile:
        context.load_verify_locations(cafile=client_cafile)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise ValueError("require_client_cert needs client_cafile")
    return context
