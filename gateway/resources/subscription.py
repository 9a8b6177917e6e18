"""Subscription: the R4 search parameters of the gateway's own Subscription resources.

May import: gateway.resources. Subscriptions are kept in the gateway's store (never an EHR's);
`url` is the channel endpoint (R4 type uri: exact match), `type` the channel type, `criteria`
the search URL as a string. Not in the Patient compartment (R4 compartmentdefinition-patient).
"""
from gateway.resources import ResourceType, SearchParam

_SP = "http://hl7.org/fhir/SearchParameter/Subscription-"

RESOURCE = ResourceType(
    name="Subscription",
    search_params=(
        SearchParam("status", "token", ("status",), definition=_SP + "status",
                    code_system="http://hl7.org/fhir/subscription-status"),
        SearchParam("type", "token", ("channel.type",), definition=_SP + "type",
                    code_system="http://hl7.org/fhir/subscription-channel-type"),
        SearchParam("url", "uri", ("channel.endpoint",), definition=_SP + "url"),
        SearchParam("criteria", "string", ("criteria",), definition=_SP + "criteria"),
        SearchParam("payload", "token", ("channel.payload",), definition=_SP + "payload"),
    ),
)
