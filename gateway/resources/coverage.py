"""Coverage: search parameters, and its link to the Patient compartment.

May import: gateway.resources. R4 compartmentdefinition-patient puts a Coverage in a Patient's
compartment through policy-holder, subscriber, beneficiary and payor (a self-pay Coverage has
the Patient as payor).
"""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/Coverage-"

RESOURCE = ResourceType(
    name="Coverage",
    search_params=(
        SearchParam("identifier", "token", ("identifier",), definition=_SP + "identifier"),
        SearchParam("beneficiary", "reference", ("beneficiary",), ("Patient",), _SP + "beneficiary"),
        SearchParam("patient", "reference", ("beneficiary",), ("Patient",), _SP + "patient"),
        SearchParam("payor", "reference", ("payor",), ("Organization", "Patient", "RelatedPerson"), _SP + "payor"),
        SearchParam("subscriber", "reference", ("subscriber",), ("Patient", "RelatedPerson"), _SP + "subscriber"),
        SearchParam("policy-holder", "reference", ("policyHolder",), ("Organization", "Patient", "RelatedPerson"),
                    _SP + "policy-holder"),
        SearchParam("status", "token", ("status",), definition=_SP + "status",
                    code_system="http://hl7.org/fhir/fm-status"),
        SearchParam("type", "token", ("type",), definition=_SP + "type"),
    ),
    patient_compartment=("policy-holder", "subscriber", "beneficiary", "payor"),
    reference_paths=("beneficiary", "subscriber", "policyHolder", "payor", "contract"),
    includes=("Coverage:beneficiary", "Coverage:patient", "Coverage:subscriber", "Coverage:payor"),
)
