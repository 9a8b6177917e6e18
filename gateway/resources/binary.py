"""Binary: document content (R4 binary.html).

May import: gateway.resources. Only the common `_id` and `_lastUpdated` are searchable (no
type-specific parameters), and Binary is served raw when the client does not ask for a FHIR
format. It has no Patient-compartment link of its own (R4 compartmentdefinition-patient).
"""
from gateway.resources import ResourceType

RESOURCE = ResourceType(name="Binary")
