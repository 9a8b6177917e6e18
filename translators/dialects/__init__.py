"""Dialects: one module per backend protocol family (hl7v2, vendor_json), each pure.

`carries(profile, type, interaction)` answers, whatever the dialect, whether a profile has a
message or endpoint for an interaction (e.g. Patient merge -> ADT^A40): what the capability
generator asks before it offers an operation on a backend-owned type.
"""
from __future__ import annotations

import re

from translators.types import Profile

# A full FHIR date (no prefix, no partial precision): what an EHR's date match can stand for.
FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Search parameters that shape the result Bundle (paging, sorting, summary): never sent to a
# backend, applied by the gateway's own search over what the backend answered.
RESULT_PARAMS = frozenset({"_count", "_sort", "_elements", "_summary", "_total", "_format"})


def carries(profile: Profile, resource_type: str, interaction: str) -> bool:
    section = profile.data.get(profile.dialect)
    if not isinstance(section, dict):
        return False
    by_type = section.get("messages" if profile.dialect == "hl7v2" else "endpoints", {})
    return interaction in by_type.get(resource_type, {})
