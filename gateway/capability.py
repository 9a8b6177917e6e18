"""The CapabilityStatement, built from the active translation profiles (never hand-written).

May import: gateway.settings, gateway.resources, translators.types, translators.dialects,
stdlib. The same function
that lists what is advertised (`supported_interactions`) is what the service enforces, so the
statement cannot claim what the server refuses, nor refuse what it claims.
"""
from __future__ import annotations

from typing import Mapping

from gateway.resources import ResourceType, SearchParam, resource_types
from gateway.settings import BackendSettings, ConfigError, Settings
from translators.dialects import carries
from translators.types import Profile

# Reads can always fall back to the local mirror; writes must go through the owning backend.
_READ_SIDE = {"read", "vread", "history-instance", "history-type", "search-type"}
_COMMON = {
    "_id": SearchParam("_id", "token", ("id",), definition="http://hl7.org/fhir/SearchParameter/Resource-id"),
    "_lastUpdated": SearchParam("_lastUpdated", "date", ("meta.lastUpdated",),
                                definition="http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"),
}


# The operations this server implements: (type, name) -> OperationDefinition canonical.
# Patient $merge follows the FHIR R5 definition (R4 has none): source-patient, target-patient.
OPERATIONS = {("Patient", "merge"): "http://hl7.org/fhir/OperationDefinition/Patient-merge",
              ("Patient", "match"): "http://hl7.org/fhir/OperationDefinition/Patient-match"}
# Operations answered from the local mirror alone (like reads): offered whoever owns the type.
_MIRROR_OPERATIONS = {"match"}


def _profile(profiles: Mapping[str, Profile], backend: BackendSettings) -> Profile:
    try:
        return profiles[backend.profile]
    except KeyError:
        raise ConfigError(f"backends.{backend.name}.profile: no installed profile "
                          f"{backend.profile!r} (installed: {', '.join(sorted(profiles))})") from None


def owners(settings: Settings) -> tuple[dict[str, BackendSettings], BackendSettings]:
    """Which backend owns which resource type, and the default owner of the rest."""
    by_name = {b.name: b for b in settings.backends}
    owned = {rtype: b for b in settings.backends for rtype in b.resources}
    return owned, by_name[settings.default_backend]


def _owner(rtype: str, known: Mapping[str, ResourceType], owned: dict[str, BackendSettings],
           default: BackendSettings) -> BackendSettings:
    """The backend owning a type; a type that follows another's owner (an eligibility question
    goes to the EHR holding the Coverage) may not be given to a backend of its own."""
    follows = known[rtype].owned_with
    if follows and rtype in owned:
        raise ConfigError(f"backends.{owned[rtype].name}.resources: {rtype} is served by the backend "
                          f"that owns {follows}; list {follows} there instead")
    return owned.get(follows or rtype, default)


def served(settings: Settings, profiles: Mapping[str, Profile]) -> dict[str, dict]:
    """type -> {"interactions": set, "search_params": [...], "backend": name, "profile": key}.
    A type no active profile serves for its owner (eligibility, when the backend owning
    Coverage cannot ask) is left out."""
    owned, default = owners(settings)
    local = next(b for b in settings.backends if b.dialect == "local")
    local_profile = _profile(profiles, local)
    known = resource_types()
    out: dict[str, dict] = {}
    types = {t for b in settings.backends for t in _profile(profiles, b).resources}
    for rtype in sorted(types & set(known)):
        owner = _owner(rtype, known, owned, default)
        owner_profile = _profile(profiles, owner)
        owner_support = owner_profile.resources.get(rtype)
        mirror = local_profile.resources.get(rtype)
        interactions = set(owner_support.interactions if owner_support else ())
        params = list(owner_support.search_params if owner_support else ())
        if mirror is not None:
            interactions |= set(mirror.interactions) & _READ_SIDE
            params += [p for p in mirror.search_params if p not in params]
        if not interactions:
            continue
        for code in params:
            if known[rtype].param(code) is None and code not in _COMMON:
                raise ConfigError(f"profile {owner_profile.key}: {rtype} search parameter "
                                  f"{code!r} is not implemented by this server")
        # An operation is the gateway's own work on its store (declared by the local profile);
        # when a backend owns the type, it is offered only if that backend's dialect carries it.
        operations = [op for op in (mirror.operations if mirror else ())
                      if owner_profile.dialect == "local" or op in _MIRROR_OPERATIONS
                      or carries(owner_profile, rtype, op)]
        out[rtype] = {"interactions": interactions, "search_params": params, "operations": operations,
                      "backend": owner.name, "profile": owner_profile.key}
    return out


def supported_operations(settings: Settings, profiles: Mapping[str, Profile]) -> dict[str, frozenset[str]]:
    return {t: frozenset(v["operations"]) for t, v in served(settings, profiles).items()}


def supported_interactions(settings: Settings, profiles: Mapping[str, Profile]) -> dict[str, frozenset[str]]:
    return {t: frozenset(v["interactions"]) for t, v in served(settings, profiles).items()}


def _search_param(rt: ResourceType, code: str) -> dict:
    param = rt.param(code) or _COMMON[code]
    return {"name": code, "definition": param.definition, "type": param.type}



def _resource_entry(rt: ResourceType, info: dict, revincludes: list[str]) -> dict:
    order = ["read", "vread", "update", "patch", "delete", "history-instance", "history-type",
             "create", "search-type"]
    entry = {
        "type": rt.name,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{rt.name}",
        "documentation": f"Owned by backend '{info['backend']}' through translation profile "
                         f"{info['profile']}",
        "interaction": [{"code": c} for c in order if c in info["interactions"]],
        # AuditEvent rows are immutable: no updates, so no versioned-update.
        "versioning": "versioned-update" if "update" in info["interactions"] else "versioned",
        "readHistory": "vread" in info["interactions"],
        "updateCreate": "update" in info["interactions"],
        "conditionalCreate": "create" in info["interactions"],
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "referencePolicy": ["literal", "local", "enforced"],
    }
    if "search-type" in info["interactions"]:
        if rt.includes:
            entry["searchInclude"] = list(rt.includes)
        if revincludes:
            entry["searchRevInclude"] = revincludes
        entry["searchParam"] = [_search_param(rt, c) for c in info["search_params"]]
    if info.get("operations"):
        entry["operation"] = [{"name": op, "definition": OPERATIONS[(rt.name, op)]}
                              for op in info["operations"]]
    return entry


def build_capability(settings: Settings, profiles: Mapping[str, Profile], base_url: str,
                     software_version: str, date: str) -> dict:
    """The CapabilityStatement for this deployment (R4 capabilitystatement.html)."""
    info = served(settings, profiles)
    known = resource_types()
    active = sorted({b.profile for b in settings.backends})
    resources = []
    for rtype in sorted(info):
        rev = [inc for other in info for inc in known[other].includes
               if other != rtype and inc.split(":")[0] == other
               and rtype in (known[other].param(inc.split(":")[1]).targets or (rtype,))]
        resources.append(_resource_entry(known[rtype], info[rtype], rev))
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "fhir-gateway",
        "kind": "instance",
        "software": {"name": "fhir-gateway", "version": software_version},
        "implementation": {
            "description": "fhir-gateway FHIR facade; active translation profiles: "
                           + ", ".join(active),
            "url": base_url,
        },
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "documentation": "Backends: " + ", ".join(
                f"{b.name} ({b.dialect}, {b.profile})" for b in settings.backends),
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
        }],
    }
