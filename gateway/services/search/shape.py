"""Shaping returned resources: _elements and _summary (R4 search.html#elements, #summary).

May import: fhir.resources (model metadata only), stdlib.
"""
from __future__ import annotations

from functools import lru_cache

from fhir.resources.R4B import get_fhir_model_class

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "subsetted"}


@lru_cache(maxsize=None)
def summary_elements(resource_type: str) -> frozenset[str]:
    """Top-level elements marked isSummary in the R4 definitions (plus the mandatory ones)."""
    model = get_fhir_model_class(resource_type)
    keep = {"resourceType", "id", "meta"}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("summary_element_property") or info.is_required():
            keep.add(info.alias or name)
    return frozenset(keep)


def _tagged(resource: dict, keep) -> dict:
    out = {k: v for k, v in resource.items() if k in keep}
    meta = dict(out.get("meta") or {})
    meta["tag"] = list(meta.get("tag", [])) + [SUBSETTED]
    out["meta"] = meta
    return out


def shape(resource: dict, summary: str | None, elements: list[str]) -> dict:
    if elements:
        return _tagged(resource, {"resourceType", "id", "meta", *elements})
    if summary == "true":
        return _tagged(resource, summary_elements(resource["resourceType"]))
    if summary == "data":
        return _tagged(resource, set(resource) - {"text"})
    return resource
