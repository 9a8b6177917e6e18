"""The CapabilityStatement's rest.security element, matching the SMART discovery document.

May import: stdlib. SMART App Launch (conformance.md) and the oauth-uris extension
(http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris) that Python fhirclient
reads; the URLs here are the same ones /.well-known/smart-configuration lists.
"""
from __future__ import annotations


def security_element(fhir_base: str) -> dict:
    root = fhir_base.rstrip("/").rsplit("/fhir", 1)[0]
    return {
        "cors": True,
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                 "code": "SMART-on-FHIR"}], "text": "OAuth2 using SMART-on-FHIR profile"}],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "authorize", "valueUri": f"{root}/oauth/authorize"},
                          {"url": "token", "valueUri": f"{root}/oauth/token"},
                          {"url": "introspect", "valueUri": f"{root}/oauth/introspect"},
                          {"url": "revoke", "valueUri": f"{root}/oauth/revoke"}],
        }],
    }
