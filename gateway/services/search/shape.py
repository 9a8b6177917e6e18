"""Shaping returned resources: _elements and _summary (R4 search.html#elements, #summary).

May import: fhir.resources (model metadata only), stdlib. A shaped resource is marked with the
SUBSETTED tag in meta.tag, as R4 search.html#summary requires of any partial resource.
"""
from __future__ import annotations

from functools import lru_cache

from fhir.resources.R4B import get_fhir_model_class

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "subsetted"}
_ALWAYS = frozenset({"resourceType", "id", "meta"})


@lru_cache(maxsize=None)
def _fields(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """(summary elements, mandatory elements) of a type, from the R4B model metadata."""
    model = get_fhir_model_class(resource_type)
    summary, mandatory = set(_ALWAYS), set(_ALWAYS)
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("summary_element_property"):
            summary.add(info.alias or name)
        if info.is_required() or extra.get("element_required"):
            mandatory.add(info.alias or name)
    return frozenset(summary | mandatory), frozenset(mandatory)


def summary_elements(resource_type: str) -> frozenset[str]:
    """Top-level elements marked isSummary in the R4 definitions (plus the mandatory ones)."""
    return _fields(resource_type)[0]


def _tagged(resource: dict, keep) -> dict:
    out = {k: v for k, v in resource.items() if k in keep}
    meta = dict(out.get("meta") or {})
    tags = list(meta.get("tag", []))
    if not any(t.get("code") == "SUBSETTED" and t.get("system") == SUBSETTED["system"] for t in tags):
        tags.append(SUBSETTED)
    meta["tag"] = tags
    out["meta"] = meta
    return out


def shape(resource: dict, summary: str | None, elements: list[str]) -> dict:
    """The resource as _elements / _summary ask; unchanged for _summary=false or neither."""
    if elements:
        # R4 search.html#elements: the listed top-level elements; servers SHOULD also return
        # the mandatory ones, so a subsetted resource stays valid.
        mandatory = _fields(resource["resourceType"])[1]
        return _tagged(resource, mandatory | set(elements))
    if summary == "true":
        return _tagged(resource, summary_elements(resource["resourceType"]))
    if summary == "data":
        return _tagged(resource, set(resource) - {"text"})
    return resource
