"""Which patients a resource belongs to (the Patient compartment, R4 compartmentdefinition-patient).

May import: gateway.resources, gateway.services.search. Uses the same index extraction as
search, so "Appointment where the patient is a participant" means the same thing everywhere:
in search compartments, SMART patient scopes and the audit trail.
"""
from __future__ import annotations

from gateway.resources import resource_types
from gateway.services.search import extract_index


def patients_of(resource: dict) -> set[str]:
    """Ids of the Patients whose compartment holds this resource."""
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        return {resource["id"]} if resource.get("id") else set()
    facts = resource_types().get(resource_type)
    if facts is None or not facts.patient_compartment:
        return set()
    links = set(facts.patient_compartment)
    return {target_id for param, target_type, target_id, _url in extract_index(resource_type, resource).references
            if param in links and target_type == "Patient" and target_id}
