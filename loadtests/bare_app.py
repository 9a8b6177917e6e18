"""The baseline for bench_rest.py: a bare Flask app answering the same JSON bodies.

It does no validation, storage or search: it returns pre-made bodies, so the ratio
gateway/bare measures what the gateway's own work costs under identical gunicorn settings.
Bodies come from files written by bench_rest.py (BENCH_BODIES env var).
"""
from __future__ import annotations

import json
import os

from flask import Flask, Response, request

app = Flask(__name__)
_bodies = json.loads(open(os.environ["BENCH_BODIES"], encoding="utf-8").read())


@app.get("/fhir/Patient/<rid>")
def read(rid):
    return Response(_bodies["read"], mimetype="application/fhir+json")


@app.get("/fhir/Patient")
def search():
    return Response(_bodies["search"], mimetype="application/fhir+json")


@app.post("/fhir/Patient")
def create():
    body = json.loads(request.get_data())  # parse + serialize, the least any create must do
    return Response(json.dumps(body), status=201, mimetype="application/fhir+json")
