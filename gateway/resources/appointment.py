"""Appointment: search parameters, and its link to the Patient compartment (participant.actor).

May import: gateway.resources. `date` is indexed as the range start..end (the R4 expression is
`Appointment.start`; the range lets `date=2024-05-01` find an appointment by its day and
`date=gt2024-05-01T10:00Z` find one still running then). patient/practitioner/location are
participant.actor references of that target type (R4 `.where(resolve() is Patient)`).
"""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/Appointment-"

RESOURCE = ResourceType(
    name="Appointment",
    search_params=(
        SearchParam("identifier", "token", ("identifier",), definition=_SP + "identifier"),
        SearchParam("patient", "reference", ("participant.actor",), ("Patient",), _SP + "patient"),
        SearchParam("actor", "reference", ("participant.actor",),
                    ("Practitioner", "Device", "Patient", "HealthcareService", "PractitionerRole",
                     "RelatedPerson", "Location"), _SP + "actor"),
        SearchParam("practitioner", "reference", ("participant.actor",), ("Practitioner",),
                    _SP + "practitioner"),
        SearchParam("location", "reference", ("participant.actor",), ("Location",), _SP + "location"),
        SearchParam("date", "date", ("start~end",), definition=_SP + "date", sortable=True),
        SearchParam("status", "token", ("status",), definition=_SP + "status",
                    code_system="http://hl7.org/fhir/appointmentstatus"),
        SearchParam("service-type", "token", ("serviceType",), definition=_SP + "service-type"),
    ),
    patient_compartment=("actor",),  # R4 compartmentdefinition-patient: Appointment.actor
    reference_paths=("participant.actor", "slot", "basedOn", "reasonReference"),
    includes=("Appointment:patient", "Appointment:actor", "Appointment:practitioner",
              "Appointment:location"),
)
