"""Vendor list requests and their paging, from a profile's `rest.search` section. Pure.

May import: stdlib, translators.*. `search: {<type>: {path, params, items, next}}`: `params`
maps logical criteria (mrn, family, ...) to the vendor's query parameters, `items` points at
the list in an answer, and `next` says how to page: `{pointer, param}` when the answer names
the next page (pointer) to ask for in `param`; `{offset, limit, size}` for offset paging, where
a page shorter than `size` is the last one. `fhir` maps the FHIR search parameters the vendor
answers with FHIR's matching to those criteria (`criteria_for`).
"""
from __future__ import annotations


from translators.dialects import FULL_DATE, RESULT_PARAMS
from translators.dialects.vendor_json import VendorRequest, pointer_get, rest_spec
from translators.types import Profile, TranslationError




def criteria_for(profile: Profile, resource_type: str, params: list[tuple[str, str]],
                 options: dict | None = None) -> dict[str, str] | None:
    """The vendor criteria for a FHIR search the profile says the vendor answers (`fhir` in
    its search section), or None when any parameter is not one of those, carries a modifier,
    an OR list, a date prefix or partial date, or repeats: then the mirror answers."""
    support = profile.resources.get(resource_type)
    spec = rest_spec(profile).get("search", {}).get(resource_type, {})
    wanted = spec.get("fhir", {})
    if support is None or "search-type" not in support.interactions or not wanted:
        return None
    criteria: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in params:
        if name in RESULT_PARAMS:
            continue
        if name not in wanted or name in seen or "," in value or ":" in name:
            return None
        seen.add(name)
        if name == "identifier":
            system, bar, code = value.rpartition("|")
            mrn_system = (options or {}).get("mrn_system", "urn:fhir-gateway:mrn")
            if bar and system != mrn_system or not code:
                return None  # another identifier system than the vendor's MRN
            value = code
        elif name in ("birthdate", "date") and not FULL_DATE.match(value):
            return None
        criteria[wanted[name]] = value
    return criteria or None


def search_request(profile: Profile, resource_type: str, criteria: dict[str, str],
                   after: VendorRequest | None = None, answer=None) -> VendorRequest | None:
    """The first list request for `criteria` (logical names -> values), or, given the previous
    request and its answer, the next page's request (None when there is no next page)."""
    spec = rest_spec(profile).get("search", {}).get(resource_type)
    if spec is None:
        raise TranslationError(f"{resource_type}.search", f"profile {profile.key} has no search for it")
    paging = spec.get("next", {})
    if after is None:
        unknown = set(criteria) - set(spec.get("params", {}))
        if unknown:
            raise TranslationError(f"{resource_type}.search", f"cannot search by {', '.join(sorted(unknown))}")
        params = {spec["params"][k]: v for k, v in criteria.items()}
        if "limit" in paging:
            params.update({paging["limit"]: paging["size"], paging["offset"]: 0})
        return VendorRequest("GET", spec["path"], None, params=params)
    if "pointer" in paging:  # the answer names the next page
        following = pointer_get(answer, paging["pointer"])
        return None if following in (None, "") else VendorRequest(
            "GET", spec["path"], None, params=dict(after.params, **{paging["param"]: following}))
    if "limit" in paging:  # offset paging: a short page is the last one
        if len(items_of(profile, resource_type, answer)) < int(paging["size"]):
            return None
        offset = int(after.params[paging["offset"]]) + int(paging["size"])
        return VendorRequest("GET", spec["path"], None, params=dict(after.params, **{paging["offset"]: offset}))
    return None


def items_of(profile: Profile, resource_type: str, answer) -> list:
    spec = rest_spec(profile).get("search", {}).get(resource_type, {})
    items = pointer_get(answer, spec.get("items", ""))
    if not isinstance(items, list):
        raise TranslationError(spec.get("items", "/"), "the vendor's list answer holds no list there")
    return items
