"""Binary: document content (R4 binary.html). Only `_id` is searchable, and Binary is served
raw when the client does not ask for a FHIR format."""
from gateway.resources import ResourceType

RESOURCE = ResourceType(name="Binary")
