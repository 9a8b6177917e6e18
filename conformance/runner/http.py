"""The runner's HTTP client: a requests session that keeps every resource the server returns.

May import: requests, stdlib. Everything the server sends back as FHIR JSON (resources, Bundles,
OperationOutcomes) is kept with a label naming the request, so the validation group can run
every validator over all of it afterwards.
"""
from __future__ import annotations

import json

import requests

FHIR_JSON = "application/fhir+json"


class FhirHttp:
    def __init__(self, base: str, token: str | None = None, timeout: float = 30) -> None:
        self.base, self.timeout = base.rstrip("/"), timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = FHIR_JSON
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.returned: list[tuple[str, dict]] = []

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base}/{path.lstrip('/')}" if path else self.base

    def request(self, method: str, path: str, body: object = None, *, params=None, headers=None,
                content_type: str | None = FHIR_JSON) -> requests.Response:
        """One request; a dict/list body is sent as JSON, str/bytes as they are."""
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (str, bytes)) else json.dumps(body)
            if content_type:
                sent.setdefault("Content-Type", content_type)
        response = self.session.request(method, self.url(path), params=params, data=data, headers=sent,
                                        timeout=self.timeout)
        self._keep(f"{method} {response.request.path_url}", response)
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def _keep(self, label: str, response: requests.Response) -> None:
        body = body_of(response)
        if isinstance(body, dict) and "resourceType" in body:
            self.returned.append((f"{label} -> {response.status_code}", body))


def body_of(response: requests.Response) -> object:
    """The JSON body, or None when there is none or it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None
