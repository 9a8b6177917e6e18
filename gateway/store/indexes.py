"""IndexRows: the search index values of one resource version, as the store writes them.

May import: stdlib only. Services compute these from the resource JSON and the search parameter
definitions (gateway.services.search.extract); the store only persists them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class IndexRows:
    tokens: tuple[tuple[str, str | None, str], ...] = ()  # (param, system, code)
    strings: tuple[tuple[str, str, str], ...] = ()  # (param, norm, exact)
    dates: tuple[tuple[str, datetime, datetime], ...] = ()  # (param, low, high), naive UTC
    references: tuple[tuple[str, str | None, str | None, str | None], ...] = ()  # (param, type, id, url)
