"""FHIR search over the store's index tables (R4 search.html).

Public interface: `extract_index(resource_type, resource) -> IndexRows` (write side) and
`run_search(session, resource_type, params, ...) -> searchset Bundle` (read side).
May import: sqlalchemy, gateway.store, gateway.resources, gateway.errors, stdlib.
"""
from gateway.services.search.extract import extract_index
from gateway.services.search.run import run_search

__all__ = ["extract_index", "run_search"]
