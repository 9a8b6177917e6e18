"""Coverage: search parameters, and its link to the Patient compartment (beneficiary etc.)."""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/Coverage-"

RESOURCE = ResourceType(
    name="Coverage",
    search_params=(
        SearchParam("identifier", "token", ("identifier",), definition=_SP + "identifier"),
        SearchParam("beneficiary", "reference", ("beneficiary",), ("Patient",), _SP + "beneficiary"),
        SearchParam("patient", "reference", ("beneficiary",), ("Patient",), _SP + "patient"),
        SearchParam("payor", "reference", ("payor",), (), _SP + "payor"),
        SearchParam("subscriber", "reference", ("subscriber",), (), _SP + "subscriber"),
        SearchParam("policy-holder", "reference", ("policyHolder",), (), _SP + "policy-holder"),
        SearchParam("status", "token", ("status",), definition=_SP + "status"),
        SearchParam("type", "token", ("type",), definition=_SP + "type"),
    ),
    # R4 compartmentdefinition-patient: Coverage via policy-holder, subscriber, beneficiary, payor
    patient_compartment=("beneficiary",),
    reference_paths=("beneficiary", "subscriber", "policyHolder", "payor", "contract"),
    includes=("Coverage:beneficiary", "Coverage:patient", "Coverage:subscriber", "Coverage:payor"),
)
