"""`conformance run`: exercise a FHIR server as a client would and report every check."""
