"""A vendor REST backend: translate with the pinned profile, call the vendor API, map its answer.

May import: gateway.delivery, gateway.settings, gateway.transports.http, translators, stdlib.
Errors: 4xx (not 429) -> permanent refusal (422 with the vendor's code and message); 429 and
5xx, timeouts and connection errors -> unavailable (503 with the vendor's Retry-After if any).
Auth is OAuth2 client credentials; an API key is accepted where a vendor demands it, and the
transport logs once that this is not SMART/OAuth2 compliant.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

from gateway.delivery import Delivered, DeliveryRefused, DeliveryUnavailable
from gateway.settings import BackendSettings, ConfigError
from gateway.transports.http import (ApiKeyAuth, HttpRefused, HttpUnavailable,
                                     OAuth2ClientCredentials, VendorHttpClient)
from translators.dialects import vendor_json
from translators.types import Profile, TranslateContext, TranslationError


def _auth(backend: BackendSettings):
    options = backend.options
    if options.get("api_key"):
        return ApiKeyAuth(str(options["api_key"]), header=str(options.get("api_key_header", "X-API-Key")))
    missing = [k for k in ("token_url", "client_id", "client_secret") if not options.get(k)]
    if missing:
        raise ConfigError(f"backends.{backend.name}.options.{missing[0]}: required for OAuth2 "
                          "client credentials (or set api_key)")
    return OAuth2ClientCredentials(str(options["token_url"]), str(options["client_id"]),
                                   str(options["client_secret"]))


class RestBackend:
    def __init__(self, backend: BackendSettings, profile: Profile) -> None:
        if not backend.endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"backends.{backend.name}.endpoint: expected an http(s) URL")
        self.backend, self.profile = backend, profile
        timeout = (float(backend.options.get("connect_timeout", 5)),
                   float(backend.options.get("read_timeout", 30)))
        self.client = VendorHttpClient(backend.endpoint, auth=_auth(backend), timeout=timeout)

    def push(self, interaction: str, resource: dict, backend_ids, related) -> Delivered:
        ctx = TranslateContext(now=datetime.now(timezone.utc), control_id="",
                               backend_ids=backend_ids, related=related,
                               options=dict(self.backend.options))
        try:
            request = vendor_json.render(self.profile, interaction, resource, ctx)
        except TranslationError as exc:
            raise DeliveryRefused(self.backend.name, f"cannot translate with {self.profile.key}: {exc}") from None
        try:
            answer = self.client.request(request.method, request.path, json=request.json)
        except HttpRefused as exc:
            raise DeliveryRefused(self.backend.name,
                                  f"HTTP {exc.status} {exc.code}: {exc.vendor_message}".strip()) from None
        except HttpUnavailable as exc:
            wait = math.ceil(exc.retry_after) if exc.retry_after else 30
            raise DeliveryUnavailable(self.backend.name, str(exc), retry_after=wait) from None
        backend_id = request.backend_id or vendor_json.backend_id_of(
            self.profile, resource["resourceType"], answer.body)
        return Delivered(self.backend.name, backend_id, self.profile.key, f"HTTP {answer.status}")

    def close(self) -> None:
        self.client.close()
