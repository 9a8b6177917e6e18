"""Benchmark: HL7 v2 translation speed, as ratios to bare parsers/builders in the same run.

v2 -> FHIR: our read() of a 16-segment ADT^A04 vs python-hl7's parse (and hl7apy's parse).
FHIR -> v2: our render() of the same Patient vs a bare f-string builder with escaping (and
hl7apy's object model). Goals (issue 3): >= 500 msg/s/core in and >= 2,000 msg/s/core out.
Usage: python loadtests/bench_translators.py [--seconds 2]
"""
from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

import hl7
from hl7apy.parser import parse_message

from translators.dialects import hl7v2
from translators.er7 import Delimiters, escape
from translators.profile import load_profiles
from translators.types import TranslateContext

ROOT = Path(__file__).resolve().parent.parent
PROFILE = load_profiles()["hl7v2-generic@2.5.1-1.0.0"]
OPTIONS = {"assigning_authority": "CLINIC", "mrn_system": "urn:fhir-gateway:mrn"}


def rate(fn, seconds: float) -> float:
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(20):
            fn()
        count += 20
    return count / seconds


def bare_builder(p: dict) -> str:
    d = Delimiters()
    name = p["name"][0]
    return (f"MSH|^~\\&|GW|FAC|EHR|CLINIC|20261124060000||ADT^A04^ADT_A01|1|P|2.5.1\r"
            f"EVN|A04|20261124060000\rPID|1||{escape(p['identifier'][0]['value'], d)}^^^CLINIC^MR||"
            f"{escape(name['family'], d)}^{escape(name['given'][0], d)}||"
            f"{p['birthDate'].replace('-', '')}|F\rPV1|1|N\r")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    seconds = parser.parse_args().seconds
    text = (ROOT / "tests" / "data" / "hl7v2" / "messages" / "ADT-A04-01.hl7").read_text().replace("\n", "\r")
    segments = len([s for s in text.split("\r") if s])
    _type, patient = hl7v2.read(PROFILE, text, OPTIONS)
    patient["id"] = "bench"
    ctx = TranslateContext(datetime(2026, 11, 24, tzinfo=timezone.utc), "BENCH1", options=OPTIONS)
    rows = [
        ("v2->FHIR  ours (read)", rate(lambda: hl7v2.read(PROFILE, text, OPTIONS), seconds)),
        ("v2 parse  python-hl7", rate(lambda: hl7.parse(text), seconds)),
        ("v2 parse  hl7apy", rate(lambda: parse_message(text, find_groups=False), seconds / 2)),
        ("FHIR->v2  ours (render)", rate(lambda: hl7v2.render(PROFILE, "create", patient, ctx), seconds)),
        ("v2 build  bare f-string", rate(lambda: bare_builder(patient), seconds)),
    ]
    print(f"{segments}-segment ADT^A04, one core, {seconds:.0f} s per line")
    for name, value in rows:
        print(f"{name:26} {value:10.0f} msg/s")
    print(f"ratio read/python-hl7 parse : {rows[0][1] / rows[1][1]:.2f}  (goal >= 500 msg/s: "
          f"{'met' if rows[0][1] >= 500 else 'NOT met'})")
    print(f"ratio render/bare builder   : {rows[3][1] / rows[4][1]:.2f}  (goal >= 2000 msg/s: "
          f"{'met' if rows[3][1] >= 2000 else 'NOT met'})")


if __name__ == "__main__":
    main()
