"""fhir-gateway: FHIR R4 facade and translation gateway. `create_app` is the entry point."""
from __future__ import annotations


def __getattr__(name: str):
    # Lazy, so that importing a leaf module (gateway.transports.mllp) does not build the app stack.
    if name == "create_app":
        from gateway.app import create_app
        return create_app
    raise AttributeError(name)


__all__ = ["create_app"]
