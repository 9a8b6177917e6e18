"""Services: FHIR interactions, validation, search, audit; each call one unit of work."""
