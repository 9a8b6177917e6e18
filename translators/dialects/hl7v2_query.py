"""Patient search as an IHE PDQ query: FHIR search params -> QBP^Q22, RSP^K22 -> Patients. Pure.

May import: stdlib, translators.*. IHE ITI TF-2a 3.21.4.1 (QBP^Q22): QPD-1 message query name,
QPD-2 query tag, QPD-3 repeats `@<PID field>^<value>` pairs (all must match); RCP-1 I
(immediate), RCP-2 quantity limit. 3.21.4.2 (RSP^K22): MSA-1 AA, QAK-2 OK / NF / AE / AR, one
PID per match. Only parameters the profile's `query.<type>.params` declares are translated; a
search using anything else is not sent (`translatable` says so) and the mirror answers it.
"""
from __future__ import annotations

from translators.dialects import FULL_DATE, RESULT_PARAMS
from translators.dialects.hl7v2 import _msh, _read_resource, _render_msh, _spec
from translators.er7 import Delimiters, Message, SegmentBuilder, escape, parse
from translators.transforms import TO_V2
from translators.types import Hl7v2Message, Profile, QueryResult, TranslateContext, TranslationError



def _rule(profile: Profile, rtype: str) -> dict | None:
    spec = profile.data.get("hl7v2") or {}
    if not spec.get("answers_queries"):
        return None
    return spec.get("query", {}).get(rtype)


def _criterion(profile: Profile, rule: dict, name: str, value: str, options: dict) -> tuple[str, str] | None:
    """(QPD-3 field, value) for one FHIR parameter, None when it cannot be translated."""
    param = rule["params"].get(name)
    if param is None or not value or "," in value:  # modifiers, unknown params, OR-lists
        return None
    if name == "identifier":
        system, bar, code = value.rpartition("|")
        mrn_system = options.get("mrn_system", _spec(profile)["mrn"].get("default_system"))
        if bar and system != mrn_system:
            return None
        value = code
    if name == "birthdate" and not FULL_DATE.match(value):
        return None  # ge/le prefixes and year/month precision are ranges PDQ cannot express
    if "map" in param:
        value = _spec(profile)["value_maps"][param["map"]].get(value)
        if value is None:
            return None
    if "transform" in param:
        value = TO_V2[param["transform"]](value, options)
    # FHIR string search matches the start of the value (R4 3.1.1.5.3); PDQ's wildcard is `*`.
    return param["field"], value + ("*" if param.get("prefix") else "")


def translatable(profile: Profile, rtype: str, params: list[tuple[str, str]],
                 options: dict | None = None) -> list[tuple[str, str]] | None:
    """QPD-3 criteria for a FHIR search, or None when the EHR cannot answer it."""
    rule = _rule(profile, rtype)
    if rule is None:
        return None
    criteria = []
    for name, value in params:
        if name in RESULT_PARAMS:
            continue
        criterion = _criterion(profile, rule, name, value, options or {})
        if criterion is None:
            return None
        criteria.append(criterion)
    return criteria or None


def build_query(profile: Profile, rtype: str, params: list[tuple[str, str]],
                ctx: TranslateContext) -> Hl7v2Message:
    """The QBP^Q22 for a FHIR search; TranslationError when it is not translatable."""
    criteria = translatable(profile, rtype, params, dict(ctx.options))
    if criteria is None:
        raise TranslationError(f"{rtype}?search", f"profile {profile.key} cannot send this search as a query")
    rule, d = _rule(profile, rtype), Delimiters()
    request = rule["request"]
    msh = SegmentBuilder("MSH")
    _msh(msh, request, ctx, profile.backend_version, d)
    qpd = SegmentBuilder("QPD")
    qpd.set(1, 1, request["query_name"], d)
    qpd.set(2, 1, ctx.control_id, d)
    qpd.set_raw(3, 1, d.repetition.join(escape(f, d) + d.component + escape(v, d) for f, v in criteria))
    rcp = SegmentBuilder("RCP")
    rcp.set(1, 1, "I", d)  # immediate; no RCP-2 limit: _count is a page size, the gateway pages
    text = "\r".join([_render_msh(msh, d), qpd.render(d), rcp.render(d)]) + "\r"
    return Hl7v2Message(text, f"{request['code']}^{request['event']}^{request['structure']}", ctx.control_id)


def read_response(profile: Profile, rtype: str, text: str, control_id: str,
                  options: dict | None = None) -> QueryResult:
    """The (MRN, Patient) pairs of an RSP^K22; TranslationError naming a refusal or bad reply."""
    spec, rule, options = _spec(profile), _rule(profile, rtype), options or {}
    if rule is None:
        raise TranslationError(profile.key, f"profile does not send {rtype} queries")
    message = parse(text)
    expected = rule["response"]
    if (message.get("MSH-9.1"), message.get("MSH-9.2")) != (expected["code"], expected["event"]):
        raise TranslationError("MSH-9", f"expected {expected['code']}^{expected['event']}, got "
                               f"{message.get('MSH-9.1')}^{message.get('MSH-9.2')}")
    if message.get("MSA-2") and message.get("MSA-2") != control_id:
        raise TranslationError("MSA-2", f"answers {message.get('MSA-2')!r}, not our query {control_id!r}")
    status = message.get("QAK-2")
    if message.get("MSA-1") != "AA" or status in ("AE", "AR"):
        reason = message.get("ERR-8") or message.get("ERR-3.2") or message.get("MSA-3") or "refused"
        raise TranslationError("MSA-1", f"query refused ({message.get('MSA-1')}/{status}): {reason}")
    matches = []
    msh = message.segments[0]
    for segment in message.segments:
        if segment[0] == "PID":
            resource = _read_resource(spec, rtype, Message(message.delimiters, [msh, segment]), options)
            matches.append((resource["identifier"][0]["value"], resource))
    return QueryResult(tuple(matches), profile.key)
