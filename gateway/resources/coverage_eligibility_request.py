"""CoverageEligibilityRequest: search parameters, references, and its Patient compartment link.

May import: gateway.resources. A request is the question "is this Coverage in force (and what
does it pay) for this patient on this date"; creating one asks the backend that owns Coverage
at once (gateway.services.eligibility), so the type follows Coverage's owner. R4
compartmentdefinition-patient puts it in the compartment of its `patient`.
"""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/CoverageEligibilityRequest-"

RESOURCE = ResourceType(
    name="CoverageEligibilityRequest",
    search_params=(
        SearchParam("identifier", "token", ("identifier",), definition=_SP + "identifier"),
        SearchParam("patient", "reference", ("patient",), ("Patient",), _SP + "patient"),
        SearchParam("created", "date", ("created",), definition=_SP + "created", sortable=True),
        SearchParam("status", "token", ("status",), definition=_SP + "status",
                    code_system="http://hl7.org/fhir/fm-status"),
    ),
    patient_compartment=("patient",),
    reference_paths=("patient", "enterer", "provider", "insurer", "facility", "insurance.coverage",
                     "supportingInfo.information", "item.provider", "item.facility", "item.detail"),
    includes=("CoverageEligibilityRequest:patient",),
    owned_with="Coverage",
)
