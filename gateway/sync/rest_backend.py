"""A vendor REST backend: translate with the pinned profile, call the vendor API, map its answer.

May import: gateway.delivery, gateway.settings, gateway.transports.http, translators, stdlib.
Errors: 4xx (not 429) -> permanent refusal (422 with the vendor's code and message); 429 and
5xx, timeouts and connection errors -> unavailable (503 with the vendor's Retry-After if any).
Auth is OAuth2 client credentials; an API key is accepted where a vendor demands it, and the
transport logs once that this is not SMART/OAuth2 compliant. The vendor's error body is read
through the profile's `errors` pointers when it has them. A record that lives under another at
the vendor (a Coverage under its Patient) whose parent has no id at this backend yet: the
parent is looked up by MRN through the profile's search (following its paging) and, when the
profile allows it, registered first. An eligibility question (`eligibility`) is one call to the
vendor's eligibility endpoint: a vendor error the profile lists in `error_answers` (an unknown
member) is its answer, read into an outcome `error` response; any other 4xx is a refusal.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

from gateway.delivery import Delivered, DeliveryRefused, DeliveryUnavailable, EligibilityAnswer
from gateway.settings import BackendSettings, ConfigError
from gateway.transports.http import (ApiKeyAuth, HttpRefused, HttpUnavailable,
                                     OAuth2ClientCredentials, VendorHttpClient)
from translators.dialects import vendor_eligibility, vendor_events, vendor_json, vendor_lists
from translators.types import Profile, QueryResult, TranslateContext, TranslationError


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
    MAX_PAGES = 100  # a vendor list longer than this is a runaway, not a lookup

    def __init__(self, backend: BackendSettings, profile: Profile) -> None:
        if not backend.endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"backends.{backend.name}.endpoint: expected an http(s) URL")
        self.backend, self.profile = backend, profile
        timeout = (float(backend.options.get("connect_timeout", 5)),
                   float(backend.options.get("read_timeout", 30)))
        self.client = VendorHttpClient(backend.endpoint, auth=_auth(backend), timeout=timeout)

    def _ctx(self, backend_ids, related) -> TranslateContext:
        return TranslateContext(now=datetime.now(timezone.utc), control_id="",
                                backend_ids=backend_ids, related=related,
                                options=dict(self.backend.options))

    def _render(self, interaction: str, resource: dict, ctx: TranslateContext):
        try:
            return vendor_json.render(self.profile, interaction, resource, ctx)
        except TranslationError as exc:
            raise DeliveryRefused(self.backend.name, f"cannot translate with {self.profile.key}: {exc}") from None

    def push(self, interaction: str, resource: dict, backend_ids, related, *,
             resend: bool = False) -> Delivered:
        if resend and interaction == "create":
            taken = self._taken_before(resource)
            if taken is not None:
                return taken
        ids, found = dict(backend_ids), ()
        try:
            parent = vendor_json.parent_of(self.profile, resource)
            if parent is not None and parent not in ids:
                ids[parent] = self._find_or_register(parent, related)
                found = ((parent, ids[parent]),)
        except TranslationError as exc:
            raise DeliveryRefused(self.backend.name, f"cannot translate with {self.profile.key}: {exc}") from None
        request = self._render(interaction, resource, self._ctx(ids, related))
        answer = self._call(request)
        backend_id = request.backend_id or vendor_json.backend_id_of(
            self.profile, resource["resourceType"], answer.body)
        return Delivered(self.backend.name, backend_id, self.profile.key, f"HTTP {answer.status}", found)

    def landing_id(self, interaction: str, resource: dict, backend_ids) -> str | None:
        """The vendor record a create would be written onto, when the profile writes this type
        onto its parent's record (the intake EHR keeps one insurance on the patient record:
        PATCH /patients/{parent}) and the parent's vendor id is known; else None."""
        rtype = resource["resourceType"]
        endpoint = vendor_json.rest_spec(self.profile).get("endpoints", {}).get(rtype, {}).get("create") or {}
        if interaction != "create" or "{parent}" not in str(endpoint.get("path", "")):
            return None
        try:
            parent = vendor_json.parent_of(self.profile, resource)
        except TranslationError:
            return None
        return backend_ids.get(parent) if parent is not None else None

    def _taken_before(self, resource: dict) -> Delivered | None:
        """A create sent again after a try whose answer was lost (a timeout after the vendor
        stored it): when the vendor can be searched by MRN and holds exactly one record with
        this resource's MRN, that record is the earlier try's, so its id is adopted instead of
        creating a duplicate. Only on a resend: a first create never adopts a record, since a
        wrong MRN typed at the desk must not attach the patient to someone else's chart."""
        rtype = resource["resourceType"]
        spec = vendor_json.rest_spec(self.profile).get("search", {}).get(rtype) or {}
        if "mrn" not in spec.get("params", {}):
            return None
        mrn = vendor_json.mrn_of(resource, self.backend.options)
        if mrn == resource.get("id"):
            return None  # no MRN: nothing the vendor could be searched by
        found = self.search(rtype, {"mrn": mrn})
        if len(found) != 1:
            return None
        return Delivered(self.backend.name, vendor_json.record_id(self.profile, rtype, found[0]),
                         self.profile.key, "taken by an earlier try (found by MRN)")

    def _find_or_register(self, parent: tuple[str, str], related) -> str:
        """The vendor id of the record a resource lives under (a Coverage's Patient) when the
        gateway has none for this backend: found by MRN, else registered (profile permitting)."""
        rtype, local_id = parent
        source = related.get(parent)
        if source is None:
            raise DeliveryRefused(self.backend.name, f"{rtype}/{local_id} is not in the gateway's store")
        found = self.search(rtype, {"mrn": vendor_json.mrn_of(source, self.backend.options)})
        if len(found) > 1:
            raise DeliveryRefused(self.backend.name, f"{len(found)} {rtype} records at the vendor "
                                  f"have the MRN of {rtype}/{local_id}")
        if found:
            return vendor_json.record_id(self.profile, rtype, found[0])
        if not vendor_json.parent_rule(self.profile, rtype).get("create"):
            raise DeliveryRefused(self.backend.name, f"{rtype}/{local_id} is not registered at the vendor")
        answer = self._call(self._render("create", source, self._ctx({}, related)))
        backend_id = vendor_json.backend_id_of(self.profile, rtype, answer.body)
        if backend_id is None:
            raise DeliveryUnavailable(self.backend.name, f"the vendor registered the {rtype} without an id")
        return backend_id

    def query(self, resource_type: str, params: list[tuple[str, str]]) -> QueryResult | None:
        """The vendor's answer to a FHIR search its profile declares (`rest.search.<type>.fhir`),
        read into FHIR; None when it cannot answer this search (the mirror does)."""
        options = dict(self.backend.options)
        criteria = vendor_lists.criteria_for(self.profile, resource_type, params, options)
        if criteria is None:
            return None
        matches = []
        for record in self.search(resource_type, criteria):
            try:
                matches.append((vendor_json.record_id(self.profile, resource_type, record),
                                vendor_json.read(self.profile, resource_type, record, options)))
            except TranslationError as exc:
                # a record that does not fit the profile: never answer with part of the truth
                raise DeliveryUnavailable(self.backend.name, f"the vendor's {resource_type} list does "
                                          f"not fit {self.profile.key}: {exc}") from None
        return QueryResult(tuple(matches), self.profile.key)

    def search(self, resource_type: str, criteria: dict[str, str]) -> list[dict]:
        """Every vendor record matching `criteria` (logical names from the profile's search
        params), following the profile's paging."""
        try:
            request = vendor_lists.search_request(self.profile, resource_type, criteria)
            records: list[dict] = []
            for _page in range(self.MAX_PAGES):
                answer = self._call(request).body
                records += vendor_lists.items_of(self.profile, resource_type, answer)
                request = vendor_lists.search_request(self.profile, resource_type, criteria, request, answer)
                if request is None:
                    return records
        except TranslationError as exc:
            raise DeliveryRefused(self.backend.name, f"cannot read the vendor's list with {self.profile.key}: {exc}") from None
        raise DeliveryUnavailable(self.backend.name, f"the vendor's list is longer than {self.MAX_PAGES} pages")

    def fetch(self, resource_type: str, backend_id: str) -> dict | None:
        """The vendor's current record (unwrapped from its envelope) by its vendor id, through
        the profile's `read` endpoint; None when the vendor answers 404 (it has none)."""
        try:
            request = vendor_events.read_request(self.profile, resource_type, backend_id)
        except TranslationError as exc:
            raise DeliveryRefused(self.backend.name, f"cannot fetch with {self.profile.key}: {exc}") from None
        answer = self._call(request, missing_ok=True)
        return None if answer is None else vendor_json.record_of(self.profile, resource_type, answer.body)

    @property
    def answers_eligibility(self) -> bool:
        return vendor_eligibility.eligibility_spec(self.profile) is not None

    def eligibility(self, request: dict, backend_ids, related, now: datetime) -> EligibilityAnswer:
        """Ask the vendor about a CoverageEligibilityRequest; its answer as a response."""
        ctx = TranslateContext(now=now, control_id="", backend_ids=dict(backend_ids),
                               related=dict(related), options=dict(self.backend.options))
        try:
            call = vendor_eligibility.render_request(self.profile, request, ctx)
        except TranslationError as exc:
            raise DeliveryRefused(self.backend.name, f"cannot translate with {self.profile.key}: {exc}") from None
        try:
            answer = self.client.request(call.method, call.path, json=call.json)
        except HttpRefused as exc:
            code, message = vendor_json.error_of(self.profile, exc.body) or (exc.code, exc.vendor_message)
            if not vendor_eligibility.answers_with_error(self.profile, code):
                raise DeliveryRefused(self.backend.name, f"HTTP {exc.status} {code}: {message}".strip()) from None
            response = vendor_eligibility.error_answer(self.profile, request, code, message, ctx)
            return EligibilityAnswer(response, self.backend.name, self.profile.key)
        except HttpUnavailable as exc:
            wait = math.ceil(exc.retry_after) if exc.retry_after else 30
            raise DeliveryUnavailable(self.backend.name, str(exc), retry_after=wait) from None
        try:
            response = vendor_eligibility.read_answer(self.profile, request, answer.body, ctx)
        except TranslationError as exc:
            raise DeliveryUnavailable(self.backend.name, f"the vendor's eligibility answer does not "
                                      f"fit {self.profile.key}: {exc}") from None
        return EligibilityAnswer(response, self.backend.name, self.profile.key)

    def _call(self, request: vendor_json.VendorRequest, missing_ok: bool = False):
        try:
            return self.client.request(request.method, request.path, params=request.params or None,
                                       json=request.json)
        except HttpRefused as exc:
            if missing_ok and exc.status == 404:
                return None
            code, message = vendor_json.error_of(self.profile, exc.body) or (exc.code, exc.vendor_message)
            raise DeliveryRefused(self.backend.name, f"HTTP {exc.status} {code}: {message}".strip()) from None
        except HttpUnavailable as exc:
            wait = math.ceil(exc.retry_after) if exc.retry_after else None  # the vendor's own hint
            raise DeliveryUnavailable(self.backend.name, str(exc), retry_after=wait) from None

    def close(self) -> None:
        self.client.close()
