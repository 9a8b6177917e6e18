"""Patient: search parameters (R4 SearchParameter definitions) and compartment facts.

May import: gateway.resources. `name` covers every HumanName part (family, given, prefix,
suffix, text); phone/email are telecom values filtered by ContactPoint.system, as in the R4
expressions `Patient.telecom.where(system='phone')`.
"""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/"

RESOURCE = ResourceType(
    name="Patient",
    search_params=(
        SearchParam("identifier", "token", ("identifier",), definition=_SP + "Patient-identifier"),
        SearchParam("name", "string", ("name",), definition=_SP + "Patient-name", sortable=True),
        SearchParam("family", "string", ("name.family",), definition=_SP + "individual-family",
                    sortable=True),
        SearchParam("given", "string", ("name.given",), definition=_SP + "individual-given",
                    sortable=True),
        SearchParam("birthdate", "date", ("birthDate",), definition=_SP + "individual-birthdate",
                    sortable=True),
        SearchParam("gender", "token", ("gender",), definition=_SP + "individual-gender",
                    code_system="http://hl7.org/fhir/administrative-gender"),
        SearchParam("phone", "token", ("telecom[system=phone]",), definition=_SP + "individual-phone"),
        SearchParam("email", "token", ("telecom[system=email]",), definition=_SP + "individual-email"),
        SearchParam("telecom", "token", ("telecom",), definition=_SP + "individual-telecom"),
        SearchParam("address-postalcode", "string", ("address.postalCode",),
                    definition=_SP + "individual-address-postalcode"),
    ),
    reference_paths=("generalPractitioner", "managingOrganization", "link.other"),
)
