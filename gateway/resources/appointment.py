"""Appointment: search parameters, and its link to the Patient compartment (participant.actor)."""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/Appointment-"

RESOURCE = ResourceType(
    name="Appointment",
    search_params=(
        SearchParam("identifier", "token", ("identifier",), definition=_SP + "identifier"),
        SearchParam("patient", "reference", ("participant.actor",), ("Patient",), _SP + "patient"),
        SearchParam("actor", "reference", ("participant.actor",), (), _SP + "actor"),
        SearchParam("practitioner", "reference", ("participant.actor",), ("Practitioner",),
                    _SP + "practitioner"),
        SearchParam("location", "reference", ("participant.actor",), ("Location",), _SP + "location"),
        SearchParam("date", "date", ("start",), definition=_SP + "date", sortable=True),
        SearchParam("status", "token", ("status",), definition=_SP + "status"),
        SearchParam("service-type", "token", ("serviceType",), definition=_SP + "service-type"),
    ),
    patient_compartment=("patient",),  # R4 compartmentdefinition-patient: Appointment.actor
    reference_paths=("participant.actor", "slot", "basedOn", "reasonReference"),
    includes=("Appointment:patient", "Appointment:actor", "Appointment:practitioner",
              "Appointment:location"),
)
