"""A Patient's comparable features and its duplicate-detection blocking keys (pure, no I/O).

May import: stdlib, jellyfish. Features are normalised once per Patient (case, accents,
apostrophes, hyphenated names split into parts, phone digits, e-mail case) so a probe can be
compared with many candidates cheaply. Blocking keys are what the store indexes for each
Patient (idx_token rows with param MATCH_PARAM, written with the search index on every
write and by `db reindex`): a candidate is any Patient sharing a key with the probe, found by
an indexed lookup, never by reading every Patient. Keys pair a phonetic code of the family
name (Soundex or NYSIIS, which survive most typing slips) with a birth-date part or the first
initial, so that a common name alone never makes a block of thousands; identifiers, the exact
birth date (probed swapped too), phone and e-mail are keys of their own. No key or feature is ever logged: they are derived from PHI.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import jellyfish

MATCH_PARAM = "_match"  # idx_token.param of the blocking keys (no search parameter has it)

_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DROP = re.compile(r"['’`.]")
_SPLIT = re.compile(r"[^a-z]+")


@dataclass(frozen=True)
class Features:
    """One Patient, normalised for comparison."""

    identifiers: frozenset[tuple[str, str]]  # (system or "", value)
    families: frozenset[str]  # whole normalised family names ("smith jones")
    family_parts: frozenset[str]  # their parts ("smith", "jones")
    first_givens: frozenset[str]  # the first given name of each HumanName
    givens: frozenset[str]  # every given name (middle names included)
    birth_date: str  # "YYYY-MM-DD", "YYYY-MM", "YYYY" or ""
    gender: str  # male | female, else "" (other/unknown say nothing)
    phones: frozenset[str]  # the last 9 digits (national numbers with or without +CC / 0)
    emails: frozenset[str]
    postal_codes: frozenset[str]
    address_lines: frozenset[str]
    replaced_by: frozenset[str]  # Patient ids this record was merged into
    linked: frozenset[str]  # every Patient id named in Patient.link


def name_text(text: object) -> str:
    """Lower-case letters and single spaces: accents and apostrophes dropped, hyphens split."""
    return _name_text(text) if isinstance(text, str) else ""


@lru_cache(maxsize=8192)  # names repeat a great deal across a register; pure, so cacheable
def _name_text(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(p for p in _SPLIT.split(_DROP.sub("", plain)) if p)


def _digits(text: object) -> str:
    return "".join(c for c in text if c.isdigit())[-9:] if isinstance(text, str) else ""


def _link_ids(patient: dict, kinds: tuple[str, ...]) -> frozenset[str]:
    out = set()
    for link in patient.get("link") or []:
        if isinstance(link, dict) and link.get("type") in kinds:
            reference = str((link.get("other") or {}).get("reference", ""))
            if reference.startswith("Patient/"):
                out.add(reference.split("/")[1])
    return frozenset(out)


def _names(patient: dict) -> tuple[set[str], set[str], set[str]]:
    families, first_givens, givens = set(), set(), set()
    for name in patient.get("name") or []:
        if not isinstance(name, dict):
            continue
        family = name_text(name.get("family"))
        if family:
            families.add(family)
        given = [g for g in (name_text(x) for x in name.get("given") or []) if g]
        if given:
            first_givens.add(given[0].split(" ")[0])
            givens.update(part for g in given for part in g.split(" "))
    return families, first_givens, givens


def _telecom(patient: dict, system: str) -> list[str]:
    return [t["value"] for t in patient.get("telecom") or []
            if isinstance(t, dict) and t.get("system") == system and isinstance(t.get("value"), str)]


def features(patient: dict) -> Features:
    """The normalised features of a Patient resource (a plain dict, as stored)."""
    families, first_givens, givens = _names(patient)
    identifiers = frozenset(
        (str(i.get("system") or ""), str(i["value"]).strip().upper())
        for i in patient.get("identifier") or [] if isinstance(i, dict) and i.get("value"))
    addresses = [a for a in patient.get("address") or [] if isinstance(a, dict)]
    birth = patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else ""
    return Features(
        identifiers=identifiers,
        families=frozenset(families),
        family_parts=frozenset(p for f in families for p in f.split(" ")),
        first_givens=frozenset(first_givens), givens=frozenset(givens),
        birth_date=birth[:10],
        gender=patient.get("gender") if patient.get("gender") in ("male", "female") else "",
        phones=frozenset(d for d in map(_digits, _telecom(patient, "phone")) if len(d) >= 6),
        emails=frozenset(e.strip().casefold() for e in _telecom(patient, "email") if e.strip()),
        postal_codes=frozenset(str(a["postalCode"]).replace(" ", "").upper()
                               for a in addresses if a.get("postalCode")),
        address_lines=frozenset(" ".join(str(line).casefold().split())
                                for a in addresses for line in a.get("line") or [] if line),
        replaced_by=_link_ids(patient, ("replaced-by",)),
        linked=_link_ids(patient, ("replaced-by", "replaces", "refer", "seealso")),
    )


@lru_cache(maxsize=8192)
def phonetic(word: str) -> str:
    """NYSIIS code of one normalised name part ('' for none)."""
    return jellyfish.nysiis(word) if word else ""


def full_date(text: str) -> tuple[str, str, str] | None:
    match = _FULL_DATE.match(text)
    return match.groups() if match else None


def transposed(text: str) -> str | None:
    """The date with day and month swapped, when both are valid months and differ."""
    parts = full_date(text)
    if parts is None or parts[1] == parts[2] or int(parts[2]) > 12 or int(parts[1]) < 1:
        return None
    return f"{parts[0]}-{parts[2]}-{parts[1]}"


def blocking_keys(patient: dict) -> list[str]:
    """The keys stored for a Patient (and looked up for a probe, see probe_keys)."""
    return _keys(features(patient))


def _keys(f: Features) -> list[str]:
    keys = [f"id:{value}" for _system, value in sorted(f.identifiers)]
    parts = sorted(f.family_parts)
    initials = sorted({g[0] for g in f.first_givens})
    if f.birth_date:
        keys.append(f"dob:{f.birth_date}")
    date = full_date(f.birth_date)
    for part in parts:
        if date:  # a family-name typo (Soundex is coarse: it survives letter swaps) + a day slip
            keys.append(f"fy:{jellyfish.soundex(part)}:{date[0]}")
        keys += [f"fg:{phonetic(part)}:{i}" for i in initials]  # the birth date wrong
    if date:  # a new family name (marriage) with the same initial and birthday
        keys += [f"gd:{i}:{date[1]}-{date[2]}" for i in initials]
    keys += [f"tel:{p}" for p in sorted(f.phones)]
    keys += [f"eml:{e}" for e in sorted(f.emails)]
    return list(dict.fromkeys(k[:255] for k in keys))


def probe_keys(patient: dict) -> list[str]:
    """The keys to look candidates up by: the stored keys plus the day/month-swapped date."""
    f = features(patient)
    keys = _keys(f)
    swapped = transposed(f.birth_date)
    if swapped:
        keys.append(f"dob:{swapped}")
    return keys
