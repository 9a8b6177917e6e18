"""CoverageEligibilityResponse: search parameters, references, and its Patient compartment link.

May import: gateway.resources. Written only by the gateway, from the answer of the backend that
owns Coverage (gateway.services.eligibility); apps read and search it, typically by `request`
right after creating the request (the shape IHE FAIS ITI-125 also uses). R4
compartmentdefinition-patient puts it in the compartment of its `patient`.
"""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/CoverageEligibilityResponse-"

RESOURCE = ResourceType(
    name="CoverageEligibilityResponse",
    search_params=(
        SearchParam("identifier", "token", ("identifier",), definition=_SP + "identifier"),
        SearchParam("patient", "reference", ("patient",), ("Patient",), _SP + "patient"),
        SearchParam("request", "reference", ("request",), ("CoverageEligibilityRequest",),
                    _SP + "request"),
        SearchParam("outcome", "token", ("outcome",), definition=_SP + "outcome",
                    code_system="http://hl7.org/fhir/remittance-outcome"),
        SearchParam("created", "date", ("created",), definition=_SP + "created", sortable=True),
        SearchParam("status", "token", ("status",), definition=_SP + "status",
                    code_system="http://hl7.org/fhir/fm-status"),
    ),
    patient_compartment=("patient",),
    reference_paths=("patient", "requestor", "request", "insurer", "insurance.coverage",
                     "insurance.item.provider"),
    includes=("CoverageEligibilityResponse:request", "CoverageEligibilityResponse:patient"),
    owned_with="Coverage",
)
