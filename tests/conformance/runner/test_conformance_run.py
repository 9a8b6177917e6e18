"""`conformance run` against the real gateway on a real socket passes every check; servers that
advertise what they do not do are reported, check by check; the CLI writes both reports."""
from __future__ import annotations

import argparse
import json

from flask import Flask, Response, request

from conformance.cli import register
from conformance.runner import run
from conformance.runner.run import discover

FHIR = "application/fhir+json"


def _statement(resource: dict) -> dict:
    return {"resourceType": "CapabilityStatement", "status": "active", "date": "2026-01-01", "kind": "instance",
            "fhirVersion": "4.0.1", "format": ["json"], "rest": [{"mode": "server", "resource": [resource]}]}


def _json(body: dict, status: int = 200, **headers) -> Response:
    return Response(json.dumps(body), status, mimetype=FHIR, headers=headers)


def test_the_gateway_passes_every_check(gateway, tmp_path):
    base, token, client = gateway
    report = run(base, token, client_id=client["client_id"], client_secret=client["client_secret"])
    assert report.failures == [], report.summary()
    numbers = {c.number for c in report.checks}
    # every group ran: REST truth (incl. each Patient parameter), validators, SMART, the battery
    assert {"1.1.1", "1.2.1", "1.2.2", "2.1", "2.2", "2.3", "2.4", "2.5", "4.1", "4.10", "4.15", "S.1"} <= numbers
    patient = next(c.number.rsplit(".", 1)[0] for c in report.checks if c.name.startswith("Patient: create"))
    merged = [c for c in report.checks if c.name.startswith("Patient: $merge") or "merged" in c.name]
    assert len(merged) == 3 and all(c.outcome == "pass" for c in merged)  # the advertised operation ran
    matched = [c for c in report.checks if c.name.startswith("Patient: $match")]
    assert len(matched) == 2 and all(c.outcome == "pass" for c in matched)
    params = [c for c in report.checks if c.number.startswith(f"{patient}.8.4.")]
    assert len(params) == 12 and all(c.outcome == "pass" for c in params)
    subscription = [c for c in report.checks if c.name.startswith("Subscription: search parameter")]
    assert len(subscription) == 7 and all(c.outcome == "pass" for c in subscription), report.summary()
    junit, markdown = report.write(tmp_path)
    assert 'failures="0"' in junit.read_text()
    assert "| 4.3 | an Appointment with a start and no end (app-2/app-3) is refused, with an OperationOutcome | pass |" \
        in markdown.read_text()


def test_a_search_parameter_that_is_advertised_but_ignored_is_reported(serve):
    """The server lists `family` but answers every search with all its Patients."""
    stored = {}
    app = Flask("ignores-family")
    entry = {"type": "Patient", "interaction": [{"code": "create"}, {"code": "search-type"}],
             "searchParam": [{"name": "_id", "type": "token"}, {"name": "family", "type": "string"}]}
    app.add_url_rule("/fhir/metadata", "m", lambda: _json(_statement(entry)))

    def create():
        body = dict(request.get_json(force=True), id=str(len(stored) + 1), meta={"versionId": "1"})
        stored[body["id"]] = body
        return _json(body, 201, ETag='W/"1"', Location=f"/fhir/Patient/{body['id']}/_history/1",
                     **{"Last-Modified": "Tue, 24 Nov 2026 08:00:00 GMT"})

    def search():
        ids = request.args.get("_id", "").split(",")
        return _json({"resourceType": "Bundle", "type": "searchset", "link": [{"relation": "self", "url": request.url}],
                      "entry": [{"fullUrl": f"http://x/fhir/Patient/{i}", "resource": stored[i], "search": {"mode": "match"}}
                                for i in ids if i in stored]})
    app.add_url_rule("/fhir/Patient", "c", create, methods=["POST"])
    app.add_url_rule("/fhir/Patient", "s", search)
    report = run(serve(app) + "/fhir")
    by_name = {c.name: c for c in report.checks}
    family = by_name["Patient: search parameter family finds the resource by a matching value and not by another"]
    assert family.outcome == "fail" and "not honoured" in family.detail
    assert by_name["Patient: search parameter _id finds the resource by a matching value and not by another"].outcome == "pass"
    assert by_name["Patient: create answers 201 with Location, ETag, Last-Modified and the resource"].outcome == "pass"


def test_a_server_that_lies_about_create_and_read_and_accepts_bad_input_is_reported(serve):
    app = Flask("liar")
    entry = {"type": "Patient", "interaction": [{"code": "create"}, {"code": "read"}], "searchParam": []}
    app.add_url_rule("/fhir/metadata", "m", lambda: _json(_statement(entry)))
    # create "succeeds" without Location/ETag, reads answer 500, bad input is accepted
    app.add_url_rule("/fhir/Patient", "c", lambda: _json({"resourceType": "Patient", "id": "1"}, 201), methods=["POST"])
    app.add_url_rule("/fhir/Patient/<rid>", "r", lambda rid: Response("boom", 500))
    report = run(serve(app) + "/fhir")
    failed = {c.number: c.detail for c in report.failures}
    assert "ETag" in failed["1.3.1"] and "Location" in failed["1.3.1"]
    assert {"4.1", "4.2", "4.3", "4.4"} <= set(failed)
    assert "S.0" in {c.number for c in report.checks if c.outcome == "skip"}  # no security: no SMART surface


def test_check_groups_are_discovered_in_order_with_smart_as_group_3():
    assert [(g.number, g.order) for g in discover()] == [("1", 10), ("3", 30), ("4", 40), ("2", 90)]


def test_cli_exit_code_and_reports(serve, tmp_path):
    app = Flask("no-metadata")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["conformance", "run", "--base", serve(app) + "/fhir", "--report-dir", str(tmp_path)])
    assert args.func(args) == 1
    xml = (tmp_path / "conformance.xml").read_text()
    assert 'failures="1"' in xml and "1.1.1 GET metadata" in xml
    assert "| 1.1.1 | GET metadata answers 200 with a CapabilityStatement | FAIL |" in (tmp_path / "conformance.md").read_text()


def test_an_advertised_operation_that_does_not_work_is_reported(serve):
    """A server advertising Patient $merge that answers 501 fails check <type>.9.1."""
    app = Flask("liar")
    patients: dict[str, dict] = {}

    @app.get("/fhir/metadata")
    def metadata():
        return _json(_statement({"type": "Patient", "interaction": [{"code": "create"}, {"code": "read"}],
                                 "operation": [{"name": "merge", "definition":
                                                "http://hl7.org/fhir/OperationDefinition/Patient-merge"}]}))

    @app.post("/fhir/Patient")
    def create():
        body = dict(request.get_json(force=True), id=str(len(patients) + 1), meta={"versionId": "1"})
        patients[body["id"]] = body
        return _json(body, 201, Location=f"/fhir/Patient/{body['id']}/_history/1", ETag='W/"1"',
                     **{"Last-Modified": "Tue, 24 Nov 2026 08:00:00 GMT"})

    @app.get("/fhir/Patient/<rid>")
    def read(rid):
        return _json(patients[rid], ETag='W/"1"', **{"Last-Modified": "Tue, 24 Nov 2026 08:00:00 GMT"})

    @app.post("/fhir/Patient/$merge")
    def merge():
        return _json({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "not-supported", "diagnostics": "not really"}]}, 501)

    base = serve(app) + "/fhir"
    report = run(base, None)
    failed = {c.number: c.name for c in report.failures}
    assert any(name.startswith("Patient: $merge") for name in failed.values()), report.summary()
