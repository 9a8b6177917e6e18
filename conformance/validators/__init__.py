"""Public FHIR validators the conformance toolkit runs over what a server returns."""
