"""Inbound rate limits (per client on /fhir, per address on the OAuth POSTs) and backend budgets,
on memory and on Redis storage; bad limit settings stop the start-up naming the key."""
from __future__ import annotations

import base64
import json
import urllib.request

import pytest

from outbox_helpers import deliver_outbox, outbox_rows
from gateway.app import create_app
from gateway.settings import ConfigError, settings_from_mapping

FHIR_JSON = "application/fhir+json"
PATIENT = {"resourceType": "Patient", "identifier": [{"system": "urn:fhir-gateway:mrn", "value": "MRN-7001"}],
           "name": [{"family": "Moreau", "given": ["Elise"]}], "gender": "female", "birthDate": "1988-04-09"}


@pytest.fixture
def make_app(settings_overrides, limit_settings):
    apps = []

    def build(**overrides):
        app = create_app(settings_from_mapping(settings_overrides | limit_settings | overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["fhir_gateway"].db.dispose()


def _from(address: str) -> dict:
    return {"REMOTE_ADDR": address}


def _retry_after(response) -> int:
    return int(response.headers["Retry-After"])


def test_fhir_limit_answers_429_operation_outcome_with_retry_after(make_app):
    client = make_app(rate_limit_default="3/minute").test_client()
    answers = [client.get("/fhir/metadata") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers[:3]] == ["2", "1", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" and "Retry-After" not in r.headers for r in answers[:3])
    refused = answers[3]
    assert 1 <= _retry_after(refused) <= 60
    assert int(refused.headers["X-RateLimit-Reset"]) > 0
    outcome = refused.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "throttled"
    assert "3 per 1 minute" in outcome["issue"][0]["diagnostics"]


def test_budget_is_shared_by_every_fhir_route(make_app):
    client = make_app(rate_limit_default="2/minute").test_client()
    assert client.get("/fhir/metadata").status_code == 200
    assert client.get("/fhir/Patient").status_code == 200
    assert client.get("/fhir/Patient/nope").status_code == 429


def test_anonymous_callers_have_a_budget_per_address(make_app):
    client = make_app(rate_limit_default="1/minute").test_client()
    assert client.get("/fhir/metadata", environ_base=_from("10.0.0.1")).status_code == 200
    assert client.get("/fhir/metadata", environ_base=_from("10.0.0.1")).status_code == 429
    assert client.get("/fhir/metadata", environ_base=_from("10.0.0.2")).status_code == 200


def _token(client, registered: dict, address: str) -> str:
    basic = base64.b64encode(f"{registered['client_id']}:{registered['client_secret']}".encode()).decode()
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                         headers={"Authorization": f"Basic {basic}"}, environ_base=_from(address))
    assert answer.status_code == 200, answer.data
    return answer.get_json()["access_token"]


def test_authenticated_clients_have_a_budget_each_whatever_their_address(make_app):
    app = make_app(auth="on", rate_limit_default="2/minute", rate_limit_token="100/minute")
    client, auth = app.test_client(), app.extensions["fhir_gateway"].auth
    alpha = _token(client, auth.add_client("alpha", "system/*.rs", "integration_admin"), "10.0.0.9")
    beta = _token(client, auth.add_client("beta", "system/*.rs", "integration_admin"), "10.0.0.9")

    def search(token: str, address: str) -> int:
        return client.get("/fhir/Patient", headers={"Authorization": f"Bearer {token}"},
                          environ_base=_from(address)).status_code

    # alpha spends its budget from two addresses: one budget per client, not per address
    assert [search(alpha, "10.0.0.1"), search(alpha, "10.0.0.2"), search(alpha, "10.0.0.3")] == [200, 200, 429]
    # beta, from the very same address, still has its own
    assert [search(beta, "10.0.0.1"), search(beta, "10.0.0.1")] == [200, 200]


def test_token_endpoint_limit_per_address_answers_oauth_error(make_app):
    client = make_app(rate_limit_token="2/minute").test_client()
    form = {"grant_type": "client_credentials"}
    guesses = [client.post("/oauth/token", data=form, headers={"Authorization": "Basic bm86Z3Vlc3M="},
                           environ_base=_from("10.0.0.5")) for _ in range(3)]
    assert [g.status_code for g in guesses] == [401, 401, 429]
    refused = guesses[2]
    assert refused.mimetype == "application/json"
    assert refused.get_json()["error"] == "slow_down"
    assert refused.headers["Cache-Control"] == "no-store"
    assert _retry_after(refused) >= 1
    # another address still may try; GETs (discovery, JWKS) and /fhir are not in this budget
    other = client.post("/oauth/token", data=form, environ_base=_from("10.0.0.6"))
    assert other.status_code == 401
    assert client.get("/oauth/jwks", environ_base=_from("10.0.0.5")).status_code == 200
    assert client.get("/fhir/metadata", environ_base=_from("10.0.0.5")).status_code == 200


def test_login_form_posts_share_the_oauth_budget(make_app):
    client = make_app(rate_limit_token="2/minute").test_client()
    address = _from("10.0.0.7")
    assert client.post("/oauth/token", data={}, environ_base=address).status_code != 429
    assert client.post("/oauth/authorize", data={"username": "x", "password": "y"},
                       environ_base=address).status_code != 429
    login = client.post("/oauth/authorize", data={"username": "x", "password": "z"}, environ_base=address)
    assert login.status_code == 429
    assert login.get_json()["error"] == "slow_down"


def test_operational_endpoints_are_not_limited(make_app):
    client = make_app(rate_limit_default="1/minute").test_client()
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_rate_limit_off_lets_everything_through_without_headers(make_app):
    client = make_app(rate_limit="off", rate_limit_default="1/minute", rate_limit_token="1/minute").test_client()
    answers = [client.get("/fhir/metadata") for _ in range(5)]
    answers += [client.post("/oauth/token", data={}) for _ in range(3)]
    assert 429 not in {r.status_code for r in answers}
    assert all("X-RateLimit-Limit" not in r.headers for r in answers)


@pytest.mark.parametrize(("overrides", "key"), [
    ({"rate_limit_default": "lots"}, "rate_limit_default"),
    ({"rate_limit_token": "10/fortnight"}, "rate_limit_token"),
    ({"rate_limit_default": 600}, "rate_limit_default"),
    ({"rate_limit": "sometimes"}, "rate_limit"),
    ({"rate_limit_storage": "mongodb://db:27017"}, "rate_limit_storage"),
    ({"metrics": "maybe"}, "metrics"),
    ({"backends": [{"name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.2.0",
                    "endpoint": "mllp://127.0.0.1:2575", "options": {"rate_limit": "fast"}}]},
     "backends[0].options.rate_limit"),
])
def test_bad_rate_limit_settings_are_refused_naming_the_key(overrides, key):
    with pytest.raises(ConfigError) as refused:
        settings_from_mapping(overrides)
    assert str(refused.value).startswith(f"{key}:")


def test_good_rate_limit_notations_are_accepted():
    settings = settings_from_mapping({"rate_limit_default": "100 per minute; 5/second",
                                      "rate_limit_token": "10/2 minutes"})
    assert settings.rate_limit_default == "100 per minute; 5/second"


def test_unreachable_redis_stops_the_start_naming_the_key_not_the_password(settings_overrides):
    # port 1 on loopback: nothing listens there
    overrides = settings_overrides | {"rate_limit_storage": "redis://:s3cret@127.0.0.1:1/0"}
    with pytest.raises(ConfigError) as refused:
        create_app(settings_from_mapping(overrides))
    assert str(refused.value).startswith("rate_limit_storage: cannot reach")
    assert "s3cret" not in str(refused.value)


# --- backend budgets: the sandbox HL7 v2 EHR over a real socket ---------------------------------

def _inbox(ehr) -> list[dict]:
    with urllib.request.urlopen(ehr.inbox_url, timeout=5) as response:
        return json.loads(response.read())


def budgeted_gateway(make_app, ehr, rate_limit: str):
    return make_app(backends=[{
        "name": "ehr", "dialect": "hl7v2", "profile": "hl7v2-generic@2.5.1-1.2.0",
        "endpoint": ehr.mllp_url, "resources": ["Patient"],
        "options": {"read_timeout": 1.5, "assigning_authority": "CLINIC", "rate_limit": rate_limit}}])


def _create(client, mrn: str, prefer: str = "return=representation"):
    patient = dict(PATIENT, identifier=[{"system": "urn:fhir-gateway:mrn", "value": mrn}])
    return client.post("/fhir/Patient", data=json.dumps(patient), content_type=FHIR_JSON,
                       headers={"Prefer": prefer})


def test_spent_backend_budget_queues_the_write_unsent(make_app, ehr):
    app = budgeted_gateway(make_app, ehr, "2/minute")
    client = app.test_client()
    assert [_create(client, f"MRN-70{i}").status_code for i in range(2)] == [201, 201]
    queued = _create(client, "MRN-709", prefer="return=OperationOutcome")
    assert queued.status_code == 201, queued.data
    assert queued.headers["X-Delivery-Status"].startswith("queued; backend=ehr")
    warning = [i for i in queued.get_json()["issue"] if i["severity"] == "warning"][0]
    assert warning["code"] == "transient" and "rate limit" in warning["diagnostics"]
    assert len(_inbox(ehr)) == 2  # the third was not sent...
    assert client.get("/fhir/Patient?_summary=count").get_json()["total"] == 3  # ...but kept
    assert deliver_outbox(app).retried == 1  # the worker keeps to the budget too
    [row] = outbox_rows(app, status="pending")
    assert row["attempts"] == 2 and "rate limit" in row["last_error"]
    assert len(_inbox(ehr)) == 2
    metrics = client.get("/metrics").data.decode()
    assert 'fhir_gateway_backend_deliveries_total{backend="ehr",interaction="create",outcome="throttled"} 2.0' in metrics
    assert 'fhir_gateway_backend_deliveries_total{backend="ehr",interaction="create",outcome="delivered"} 2.0' in metrics
    assert 'fhir_gateway_rate_limited_total{scope="backend"} 2.0' in metrics
    assert 'fhir_gateway_outbox_messages{backend="ehr",status="pending"} 1.0' in metrics


def test_backend_budget_is_shared_by_gateways_on_the_same_storage(make_app, ehr, limit_settings):
    """Two workers (two apps) on one storage spend one budget; in memory each has its own."""
    first = budgeted_gateway(make_app, ehr, "1/minute").test_client()
    second = budgeted_gateway(make_app, ehr, "1/minute").test_client()
    assert _create(first, "MRN-7101").headers["X-Delivery-Status"].startswith("delivered")
    expected = "queued" if limit_settings["rate_limit_storage"].startswith("redis") else "delivered"
    answer = _create(second, "MRN-7102")
    assert answer.status_code == 201 and answer.headers["X-Delivery-Status"].startswith(expected)
