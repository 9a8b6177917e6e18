"""Golden pairs of a REST profile version, checked by `fhir-gateway profiles check`. Pure.

May import: stdlib, translators.*. In tests/golden/<id>/<version>/:
  <type>-<interaction>.fhir.json + .vendor.json   FHIR in, expected {method, path, json} out
  <type>-<interaction>.context.json (optional)    {"backend_ids": [[type, id, vendor id]],
                                                   "related": [resource, ...], "options": {}}
  <type>-<name>.record.json + <type>-<name>.fhir.json   a vendor record in, the FHIR out
                                                   (local ids from the context's backend_ids)
  eligibility-<name>.request.json                  a CoverageEligibilityRequest (with its id)
    + .vendor.json (optional)                      the expected call {method, path, json}
    + .answer.json + .response.json (optional)     the vendor's answer {status, body} in, the
                                                   expected CoverageEligibilityResponse out
    + .context.json (optional)                     as above (ids, the related Coverage)
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from translators.dialects import vendor_eligibility, vendor_json
from translators.types import Profile, TranslateContext, TranslationError


def _context(base: TranslateContext, stem: Path) -> TranslateContext:
    path = stem.with_name(stem.name + ".context.json")
    if not path.exists():
        return base
    data = json.loads(path.read_text(encoding="utf-8"))
    ids = {(t, i): b for t, i, b in data.get("backend_ids", [])}
    related = {(r["resourceType"], r["id"]): r for r in data.get("related", [])}
    return replace(base, backend_ids=ids, related=related, options={**base.options, **data.get("options", {})})


def _eligibility_problems(profile: Profile, folder: Path, base: TranslateContext) -> list[str]:
    problems = []
    for source in sorted(folder.glob("eligibility-*.request.json")):
        stem = source.with_name(source.name[: -len(".request.json")])
        files = {ext: stem.with_name(stem.name + f".{ext}.json") for ext in ("vendor", "answer", "response")}
        ctx, request = _context(base, stem), json.loads(source.read_text())
        try:
            if files["vendor"].exists():
                got = vendor_eligibility.render_request(profile, request, ctx)
                if {"method": got.method, "path": got.path, "json": got.json} != json.loads(files["vendor"].read_text()):
                    problems.append(f"{profile.key}: golden {source.name} renders differently than {files['vendor'].name}")
            if files["answer"].exists():
                answer = json.loads(files["answer"].read_text())
                if answer["status"] < 400:
                    got = vendor_eligibility.read_answer(profile, request, answer["body"], ctx)
                else:
                    code, message = vendor_json.error_of(profile, answer["body"]) or ("", "")
                    got = vendor_eligibility.error_answer(profile, request, code, message, ctx)
                if got != json.loads(files["response"].read_text()):
                    problems.append(f"{profile.key}: golden {files['answer'].name} reads differently "
                                    f"than {files['response'].name}")
        except TranslationError as exc:
            problems.append(f"{profile.key}: golden {source.name}: {exc!r}")
    return problems


def golden_problems(profile: Profile, folder: Path, base: TranslateContext) -> list[str]:
    problems = _eligibility_problems(profile, folder, base)
    for source in sorted(folder.glob("*.fhir.json")):
        stem = source.with_name(source.name[: -len(".fhir.json")])
        expected, record = (stem.with_name(stem.name + ext) for ext in (".vendor.json", ".record.json"))
        ctx = _context(base, stem)
        try:
            if expected.exists():
                got = vendor_json.render(profile, stem.name.split("-")[1], json.loads(source.read_text()), ctx)
                if {"method": got.method, "path": got.path, "json": got.json} != json.loads(expected.read_text()):
                    problems.append(f"{profile.key}: golden {source.name} renders differently than {expected.name}")
            elif record.exists():
                rtype = next(t for t in profile.resources if t.lower() == stem.name.split("-")[0])
                local = {(t, b): i for (t, i), b in ctx.backend_ids.items()}
                got = vendor_json.read(profile, rtype, json.loads(record.read_text()), dict(ctx.options),
                                       lambda t, b: local.get((t, b)))
                if got != json.loads(source.read_text()):
                    problems.append(f"{profile.key}: golden {record.name} reads differently than {source.name}")
        except (TranslationError, StopIteration) as exc:
            problems.append(f"{profile.key}: golden {source.name}: {exc!r}")
    return problems
