"""Practitioner: the FHIR identity of a staff user (the OpenID Connect `fhirUser` claim).

May import: gateway.resources. The gateway keeps one Practitioner per staff user, written by
the server when the user is added (`fhir-gateway users add`), never by apps: it is the
directory entry a SMART app resolves `fhirUser` to (SMART App Launch 2.x
scopes-and-launch-context.md#fhiruser). Search parameters are the R4 definitions
individual-family and individual-given (Practitioner-identifier is not in the shipped R4
definitions, so it is not offered). Not in the Patient compartment; references
to Practitioner from apps are not required to resolve here (they name the EHR's clinicians).
"""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/"

# the identifier system naming a staff user (value = username) on its Practitioner
STAFF_USER_SYSTEM = "urn:fhir-gateway:staff-user"

RESOURCE = ResourceType(
    name="Practitioner",
    search_params=(
        SearchParam("family", "string", ("name.family",), definition=_SP + "individual-family",
                    sortable=True),
        SearchParam("given", "string", ("name.given",), definition=_SP + "individual-given",
                    sortable=True),
    ),
    # Appointments name the EHR's practitioners, which are not in the staff directory
    references_must_resolve=False,
)
