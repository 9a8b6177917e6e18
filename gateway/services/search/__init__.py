"""FHIR search over the store's index tables (R4 search.html).

Public interface: `extract_index(resource_type, resource) -> IndexRows` (write side, pure) and
`run_search(session, resource_type, params, ...) -> searchset Bundle` (read side).
Modules: values (normalized strings, UTC date ranges, references), extract (index rows of a
resource), params (query parameters -> typed criteria), parts (SQL shape + values, so built
statements are reused), query (criteria -> SQL), shape (_summary/_elements), run (paging,
includes, the Bundle).
May import: sqlalchemy, fhir.resources (model metadata), gateway.store, gateway.resources,
gateway.errors, stdlib.
"""
from gateway.services.search.extract import extract_index
from gateway.services.search.run import run_search

__all__ = ["extract_index", "run_search"]
