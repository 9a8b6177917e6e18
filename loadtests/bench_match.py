"""What duplicate detection costs per Patient create, with 10,000 Patients stored.

Run: .venv/bin/python loadtests/bench_match.py [--stored 10000] [--creates 300]
     [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
A figure, never pass/fail; never imported by tests. It seeds a fresh database (SQLite file, or
a PostgreSQL schema of its own that is dropped at the end) with synthetic Patients (common
family and given names drawn with Zipf-like weights, so blocks are as lopsided as a real
register's; ~3% near-duplicates), then times FhirService.create (validation, write, indexes,
AuditEvent, one transaction; no HTTP) in alternating blocks with match_detection on and off,
and times the matcher alone (candidate lookup + scoring) on probes of the same kind.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402

from gateway.app import create_app  # noqa: E402
from gateway.services.duplicates import find_matches  # noqa: E402
from gateway.services.interactions import Interactions  # noqa: E402
from gateway.settings import settings_from_mapping  # noqa: E402
from gateway.store.migrate import upgrade  # noqa: E402

FAMILIES = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
            "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
            "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
            "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
            "Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris "
            "Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly "
            "Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza "
            "Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Okafor "
            "Chalmers Kowalski Novak Dubois Rossi Muller Schmidt Fischer Weber Silva Santos").split()
GIVEN = {"male": "James John Robert Michael William David Richard Joseph Thomas Charles Daniel "
                 "Matthew Anthony Mark Paul Steven Andrew Kenneth Joshua Kevin Brian George Peter "
                 "Liam Noah Oliver Elijah Lucas Mason Ethan".split(),
         "female": "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa "
                   "Nancy Betty Margaret Sandra Ashley Emily Donna Michelle Carol Amanda Melissa "
                   "Olivia Emma Ava Sophia Isabella Mia Linh Ruth".split()}
STREETS = "High Station Church Park Victoria Green Manor Mill Elm Oak Maple Cedar Pine Lake".split()


def _zipf(values: list[str], rng: random.Random) -> str:
    return rng.choices(values, weights=[1 / (rank + 1) for rank in range(len(values))])[0]


def person(rng: random.Random, n: int) -> dict:
    gender = rng.choice(("male", "female"))
    family, given = _zipf(FAMILIES, rng), _zipf(GIVEN[gender], rng)
    body = {"resourceType": "Patient",
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.72.5.9.1", "value": f"MRN-{n:07d}"}],
            "name": [{"family": family, "given": [given]}], "gender": gender,
            "birthDate": f"{rng.randint(1930, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "telecom": [{"system": "phone", "value": f"04{rng.randint(0, 99_999_999):08d}"}],
            "address": [{"line": [f"{rng.randint(1, 200)} {rng.choice(STREETS)} St"],
                         "postalCode": str(rng.randint(2000, 2200))}]}
    if rng.random() < 0.5:
        body["telecom"].append({"system": "email", "value": f"{given}.{family}{n}@example.org".lower()})
    return body


def near_duplicate(original: dict, rng: random.Random, n: int) -> dict:
    body = copy.deepcopy(original)
    body["identifier"][0]["value"] = f"MRN-{n:07d}"
    family = body["name"][0]["family"]
    if rng.random() < 0.5 and len(family) > 3:
        i = rng.randrange(1, len(family) - 1)
        body["name"][0]["family"] = family[:i] + family[i + 1] + family[i] + family[i + 2:]
    else:
        year, month, day = body["birthDate"].split("-")
        if int(day) <= 12:
            body["birthDate"] = f"{year}-{day}-{month}"
    return body


def people(rng: random.Random, start: int, count: int, made: list[dict]) -> list[dict]:
    out = []
    for n in range(start, start + count):
        if made and rng.random() < 0.03:
            out.append(near_duplicate(rng.choice(made), rng, n))
        else:
            out.append(person(rng, n))
        made.append(out[-1])
    return out


def _database(args, workdir: Path) -> tuple[str, callable]:
    if not args.postgres:
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    schema = f"bench_match_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return f"{args.postgres}{'&' if '?' in args.postgres else '?'}options=-csearch_path%3D{schema}", drop


def seed(fhir, bodies: list[dict]) -> None:
    """Stored as the mirror would hold them (indexes and blocking keys), 500 per transaction."""
    for start in range(0, len(bodies), 500):
        with fhir.db.transaction() as session:
            ops = Interactions(session, fhir.clock(), "")
            for body in bodies[start:start + 500]:
                ops.create(body)


def _ms(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"mean": round(statistics.mean(samples), 2), "median": round(statistics.median(samples), 2),
            "p95": round(ordered[int(len(ordered) * 0.95) - 1], 2), "n": len(samples)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--creates", type=int, default=300, help="creates timed per mode")
    parser.add_argument("--postgres", help="a PostgreSQL URL (a schema of its own is made and dropped)")
    args = parser.parse_args()
    rng, made = random.Random(20261208), []
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = _database(args, Path(tmp))
        try:
            upgrade(url)
            common = {"database_url": url, "data_dir": tmp, "auth": "off", "rate_limit": "off",
                      "audit_reads": "inline", "metrics": "off"}
            apps = {mode: create_app(settings_from_mapping(dict(common, match_detection=mode)))
                    for mode in ("on", "off")}
            services = {mode: app.extensions["fhir_gateway"].fhir for mode, app in apps.items()}
            started = time.perf_counter()
            seed(services["off"], people(rng, 0, args.stored, made))
            seeded = time.perf_counter() - started
            timings, flagged, block = {"on": [], "off": []}, 0, 50
            probes = people(rng, args.stored, 2 * args.creates, made)
            for i in range(0, len(probes), 2 * block):  # alternate so drift hits both alike
                for mode, chunk in (("off", probes[i:i + block]), ("on", probes[i + block:i + 2 * block])):
                    for body in chunk:
                        t0 = time.perf_counter()
                        result = services[mode].create("Patient", body, base_url="http://bench/fhir")
                        timings[mode].append((time.perf_counter() - t0) * 1000)
                        flagged += len(result.duplicates)
            matcher, sizes = [], []
            fresh = people(rng, args.stored + 2 * args.creates, args.creates, made)  # not stored
            with services["on"].db.read() as session:
                for body in fresh:
                    t0 = time.perf_counter()
                    sizes.append(len(find_matches(session, services["on"].settings, body)))
                    matcher.append((time.perf_counter() - t0) * 1000)
            on, off = _ms(timings["on"]), _ms(timings["off"])
            print(json.dumps({
                "database": "postgresql" if args.postgres else "sqlite", "stored": args.stored,
                "seed_seconds": round(seeded, 1),
                "create_ms_with_detection": on, "create_ms_without_detection": off,
                "detection_cost_ms_median": round(on["median"] - off["median"], 2),
                "matcher_alone_ms": _ms(matcher),
                "graded_candidates_per_probe_mean": round(statistics.mean(sizes), 2),
                "review_items_queued": flagged}, indent=2))
            for app in apps.values():
                app.extensions["fhir_gateway"].db.dispose()
        finally:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
