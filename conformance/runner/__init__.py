"""`conformance run`: exercise a FHIR server as a client would and report every check.

`run(base_url, token=None) -> Report` is the entry point; see conformance.runner.run.
"""
from conformance.runner.run import run

__all__ = ["run"]
