"""`fhir-gateway profiles list | check | diff A B`: pure logic returning (exit code, text).

May import: stdlib, hl7apy, translators.*. A released profile version is immutable: its
content hash is recorded in profiles/profiles.lock, and `check` fails when a released file was
edited without a new version. `check` also validates each profile's golden pairs (when a
checkout's tests/golden/<id>/<version>/ is present) and the HL7 structure of generated messages
with hl7apy (kept off the hot path, here only).
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path

import yaml

from translators.profile import PROFILE_DIR, load_profiles, profile_files
from translators.types import Profile, ProfileError

LOCK = PROFILE_DIR / "profiles.lock"


def read_lock(path: Path = LOCK) -> dict[str, str]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _status(profile: Profile, lock: dict[str, str]) -> str:
    if profile.key not in lock:
        return "unreleased"
    return "released" if lock[profile.key] == profile.sha256 else "MODIFIED"


def list_profiles() -> tuple[int, str]:
    lock = read_lock()
    lines = [f"{'profile':40} {'dialect':8} {'backend':22} {'status':10} resources"]
    for key, profile in sorted(load_profiles().items()):
        lines.append(f"{key:40} {profile.dialect:8} {profile.backend_version:22} "
                     f"{_status(profile, lock):10} {', '.join(profile.resources)}")
    return 0, "\n".join(lines)


def _golden_problems(profile: Profile, golden_root: Path) -> list[str]:
    folder = golden_root / profile.id / profile.version
    if not folder.is_dir():
        return []
    if profile.dialect == "rest":
        return _rest_golden_problems(profile, folder)
    if profile.dialect != "hl7v2":
        return []
    from translators.dialects import hl7v2
    problems = []
    ctx = _golden_context()
    options = dict(ctx.options)
    for source in sorted(folder.glob("*.fhir.json")):
        expected = source.with_name(source.name.replace(".fhir.json", ".hl7"))
        if not expected.exists() or source.name.endswith("-in.fhir.json"):
            continue
        interaction = source.name.split("-")[1].split(".")[0]
        got = hl7v2.render(profile, interaction, json.loads(source.read_text()), ctx).text
        if got != expected.read_bytes().decode("utf-8"):
            problems.append(f"{profile.key}: golden {source.name} renders differently than {expected.name}")
        problems += _hl7apy_problems(profile, got, source.name)
    for case in sorted(folder.glob("*.case.json")):
        expected = case.with_name(case.name.replace(".case.json", ".hl7"))
        data = json.loads(case.read_text())
        got = hl7v2.render(profile, data["interaction"], data["resource"], _case_context(ctx, data)).text
        if got != expected.read_bytes().decode("utf-8"):
            problems.append(f"{profile.key}: golden {case.name} renders differently than {expected.name}")
        problems += _hl7apy_problems(profile, got, case.name)
    for message in sorted(folder.glob("*-in.hl7")):
        problems += _read_golden_problems(profile, message, options)
    return problems


def _case_context(ctx, data: dict):
    """A golden case's context: the ids the backend knows, the related resources (the Patient
    of an Appointment, a DocumentReference's Binary) and the version the backend saw before."""
    from dataclasses import replace
    related = {(r["resourceType"], r["id"]): r for r in data.get("related", [])}
    if "previous" in data:
        related[(data["resource"]["resourceType"], data["resource"]["id"])] = data["previous"]
    ids = {(t, i): b for t, i, b in data.get("backend_ids", [])}
    return replace(ctx, backend_ids=ids, related=related)


def _read_golden_problems(profile: Profile, message: Path, options: dict) -> list[str]:
    from translators.dialects import hl7v2, hl7v2_merge
    text = message.read_bytes().decode("utf-8")
    merges = message.with_name(message.name.replace(".hl7", ".merges.json"))
    if merges.exists():
        got = [{"surviving": dict(m.surviving), "merged_identifier": dict(m.merged_identifier)}
               for m in hl7v2_merge.read_merges(profile, text, options)]
        return [] if got == json.loads(merges.read_text()) else [
            f"{profile.key}: golden {message.name} reads differently than {merges.name}"]
    expected = message.with_name(message.name.replace(".hl7", ".fhir.json"))
    _type, got = hl7v2.read(profile, text, options)
    if expected.exists() and got != json.loads(expected.read_text()):
        return [f"{profile.key}: golden {message.name} reads differently than {expected.name}"]
    return []


def unclaimed_report(profiles: dict[str, Profile], samples: Path) -> list[str]:
    """For each HL7 v2 profile, the sample messages holding Z-segments it neither maps nor
    carries: they would survive only on the raw inbound record, so say so before shipping."""
    from translators.dialects import hl7v2_zsegments
    lines = []
    files = sorted(p for p in samples.rglob("*") if p.suffix in (".hl7", ".er7", ".txt"))
    for key, profile in sorted(profiles.items()):
        if profile.dialect != "hl7v2":
            continue
        for path in files:
            try:
                names = hl7v2_zsegments.unclaimed(profile.data["hl7v2"], path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                lines.append(f"{key}: sample {path.name} cannot be read: {exc}")
                continue
            if names:
                lines.append(f"{key}: sample {path.name}: unmapped Z-segments {', '.join(names)} "
                             "(kept only on the raw inbound message record)")
    return lines


def _golden_context():
    from datetime import datetime, timezone

    from translators.types import TranslateContext
    return TranslateContext(datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc), "GOLDEN0001",
                            options={"assigning_authority": "CLINIC", "mrn_system": "urn:fhir-gateway:mrn"})


def _rest_golden_problems(profile: Profile, folder: Path) -> list[str]:
    from translators.dialects.vendor_golden import golden_problems
    return golden_problems(profile, folder, _golden_context())


def _hl7apy_problems(profile: Profile, text: str, name: str) -> list[str]:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message
    try:
        parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True).validate()
    except Exception as exc:  # noqa: BLE001 - hl7apy raises many types; all mean "invalid"
        return [f"{profile.key}: {name} is not a valid HL7 {profile.backend_version} message: {exc}"]
    return []


def check_profiles(golden_root: Path = Path("tests/golden"),
                   directory: Path = PROFILE_DIR, samples: Path | None = None) -> tuple[int, str]:
    problems: list[str] = []
    try:
        profiles = load_profiles(directory)
    except ProfileError as exc:
        return 1, f"FAIL\n{exc}"
    lock = read_lock(directory / LOCK.name)
    for key, profile in sorted(profiles.items()):
        state = _status(profile, lock)
        if state == "MODIFIED":
            problems.append(f"{key}: released version was edited (hash {profile.sha256[:12]} != "
                            f"lock {lock[key][:12]}); publish the change as a new version")
        problems += _golden_problems(profile, golden_root)
    for key in sorted(set(lock) - set(profiles)):
        problems.append(f"{key}: in the lock file but its profile file is missing")
    if problems:
        return 1, "FAIL\n" + "\n".join(problems)
    notes = unclaimed_report(profiles, samples) if samples is not None else []
    if samples is not None and not notes:
        notes = [f"samples in {samples}: no unmapped Z-segments"]
    return 0, "\n".join([f"OK: {len(profiles)} profile versions checked ({len(lock)} released)"] + notes)


def diff_profiles(a: str, b: str) -> tuple[int, str]:
    profiles = load_profiles()
    missing = [k for k in (a, b) if k not in profiles]
    if missing:
        return 2, f"unknown profile {missing[0]!r}; installed: {', '.join(sorted(profiles))}"
    left = yaml.safe_dump(dict(profiles[a].data), sort_keys=True).splitlines()
    right = yaml.safe_dump(dict(profiles[b].data), sort_keys=True).splitlines()
    return 0, "\n".join(difflib.unified_diff(left, right, a, b, lineterm="")) or "(no differences)"


def release(key: str) -> str:
    """Record a profile version's hash in the lock file (done once, when it is released)."""
    profiles = load_profiles()
    lock = read_lock()
    lock[key] = profiles[key].sha256
    LOCK.write_text(json.dumps(dict(sorted(lock.items())), indent=2) + "\n", encoding="utf-8")
    return lock[key]


__all__ = ["list_profiles", "check_profiles", "diff_profiles", "release", "profile_files"]
