"""DocumentReference: search parameters, and its link to the Patient compartment.

May import: gateway.resources. R4 compartmentdefinition-patient: subject and author. `author`
is searchable too (it is what puts a patient-authored document in the compartment) even though
the local-store profile does not advertise it.
"""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/"

RESOURCE = ResourceType(
    name="DocumentReference",
    search_params=(
        SearchParam("identifier", "token", ("masterIdentifier", "identifier"),
                    definition=_SP + "clinical-identifier"),
        SearchParam("patient", "reference", ("subject",), ("Patient",), _SP + "clinical-patient"),
        SearchParam("subject", "reference", ("subject",), ("Practitioner", "Group", "Device", "Patient"),
                    _SP + "DocumentReference-subject"),
        SearchParam("author", "reference", ("author",), ("Practitioner", "Organization", "Device", "Patient",
                                                          "PractitionerRole", "RelatedPerson"),
                    _SP + "DocumentReference-author"),
        SearchParam("type", "token", ("type",), definition=_SP + "clinical-type"),
        SearchParam("category", "token", ("category",), definition=_SP + "DocumentReference-category"),
        SearchParam("date", "date", ("date",), definition=_SP + "DocumentReference-date",
                    sortable=True),
        SearchParam("status", "token", ("status",), definition=_SP + "DocumentReference-status",
                    code_system="http://hl7.org/fhir/document-reference-status"),
    ),
    patient_compartment=("subject", "author"),
    reference_paths=("subject", "author", "authenticator", "custodian", "relatesTo.target"),
    includes=("DocumentReference:subject", "DocumentReference:patient"),
)
