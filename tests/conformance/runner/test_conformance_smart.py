"""The SMART check group against the real gateway: the login form is driven, every item of the
checklist the runner can check passes; with a wrong password or an unregistered backend key the
same checks fail, which proves they look at what the server answers."""
from __future__ import annotations

import json

from joserfc.jwk import ECKey

from conformance.runner.report import Report
from conformance.runner.smart import run_smart
from gateway.auth.backend_services import add_jwks_client
from gateway.auth.launch import LaunchService

REDIRECT = "http://127.0.0.1:9/callback"
PASSWORD = "a conformance password"


def _parties(app, base, tmp_path) -> dict:
    container = app.extensions["fhir_gateway"]
    launch = LaunchService(container.auth)
    launch.add_user("runner", PASSWORD, "integration_admin", "Runner Person")
    public = launch.add_public_client("launch", "launch launch/patient openid fhirUser offline_access patient/*.rs",
                                      "integration_admin", [REDIRECT])
    key = ECKey.generate_key("P-384", parameters={"kid": "k1", "alg": "ES384", "use": "sig"})
    backend = add_jwks_client(container.auth, "backend", "system/*.rs", "integration_admin",
                              {"keys": [key.as_dict(private=False)]})
    (tmp_path / "key.json").write_text(json.dumps(key.as_dict(private=True)))
    admin = container.auth.issue("seed", "integration_admin", "system/*.cruds", base)["access_token"]
    import requests
    requests.post(f"{base}/Patient", timeout=10, data=json.dumps({"resourceType": "Patient", "name": [{"family": "Lee"}]}),
                  headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/fhir+json"})
    return {"launch_client_id": public["client_id"], "redirect_uri": REDIRECT, "username": "runner",
            "password": PASSWORD, "backend_client_id": backend["client_id"], "backend_key": str(tmp_path / "key.json")}


def test_every_smart_check_passes_against_the_gateway(gateway, live_gateway, tmp_path):
    base, _token, client = gateway
    report = Report(base)
    run_smart(report, base, client["client_id"], client["client_secret"], _parties(live_gateway[1], base, tmp_path))
    assert report.failures == [], report.summary()
    numbers = {c.number for c in report.checks if c.outcome == "pass"}
    expected = {f"S.{n}" for n in range(1, 40) if n != 40}
    assert expected <= numbers, sorted(expected - numbers)


def test_a_wrong_password_or_a_stranger_key_fails_the_checks(gateway, live_gateway, tmp_path):
    base, _token, client = gateway
    options = _parties(live_gateway[1], base, tmp_path)
    stranger = ECKey.generate_key("P-384", parameters={"kid": "k1", "alg": "ES384", "use": "sig"})
    (tmp_path / "stranger.json").write_text(json.dumps(stranger.as_dict(private=True)))
    options.update(password="wrong password", backend_key=str(tmp_path / "stranger.json"))
    report = Report(base)
    run_smart(report, base, client["client_id"], client["client_secret"], options)
    failed = {c.number for c in report.failures}
    assert {"S.12", "S.13", "S.37"} <= failed, report.summary()
