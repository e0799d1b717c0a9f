"""EcoTaxa's API protocol edges, against a scripted transport."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from aquaflow_results.ecotaxa.client import EcoTaxaClient, api_base
from aquaflow_results.ecotaxa.errors import EcoTaxaAuthError, EcoTaxaError
from aquaflow_shared.errors import DependencyUnavailable

Handler = Callable[[httpx.Request], httpx.Response]
PASSWORD = "pw"  # noqa: S105 - a test credential
WRONG = "wrong"


class Scripted:
    """Logins hand out numbered tokens; other routes answer as the test says."""

    def __init__(self, routes: dict[str, list[httpx.Response]]) -> None:
        self.routes = routes
        self.logins = 0
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.url.path == "/api/login":
            body = json.loads(request.content)
            if body["password"] != PASSWORD:
                return httpx.Response(401, json={"detail": "Bad username or password"})
            self.logins += 1
            return httpx.Response(200, json=f"token-{self.logins}")
        key = f"{request.method} {request.url.path}"
        answers = self.routes[key]
        return answers.pop(0) if len(answers) > 1 else answers[0]


async def _client(script: Handler, password: str = PASSWORD) -> EcoTaxaClient:
    client = EcoTaxaClient("http://ecotaxa.test", transport=httpx.MockTransport(script), timeout_seconds=5)
    await client.open()
    await client.login("user", password)
    return client


def test_api_base() -> None:
    assert api_base("https://ecotaxa.example.org") == "https://ecotaxa.example.org/api"
    assert api_base("https://ecotaxa.example.org/api/") == "https://ecotaxa.example.org/api"


async def test_upload_import_and_job() -> None:
    script = Scripted(
        {
            "POST /api/user_files/": [httpx.Response(200, json="/srv/users/1/aquaflow_lov_s1.zip")],
            "POST /api/file_import/7": [httpx.Response(200, json={"job_id": 31, "errors": []})],
            "GET /api/jobs/31/": [
                httpx.Response(
                    200, json={"id": 31, "state": "F", "progress_pct": 100, "errors": [], "result": {"rowcount": 3}}
                )
            ],
        }
    )
    client = await _client(script)
    try:
        path = await client.upload(b"PK zip", "aquaflow_lov_s1.zip")
        job_id = await client.start_import(7, "/srv/users/1/aquaflow_lov_s1")
        job = await client.job(job_id)
    finally:
        await client.close()
    assert path == "/srv/users/1/aquaflow_lov_s1.zip"
    assert (job_id, job.state, job.result) == (31, "F", {"rowcount": 3})
    upload, start = script.seen[1], script.seen[2]
    assert upload.headers["Authorization"] == "Bearer token-1"
    assert b'name="file"; filename="aquaflow_lov_s1.zip"' in upload.content
    assert json.loads(start.content) == {"source_path": "/srv/users/1/aquaflow_lov_s1", "skip_existing_objects": True}


async def test_an_expired_token_is_renewed_once() -> None:
    script = Scripted(
        {
            "GET /api/jobs/5/": [
                httpx.Response(401, json={"detail": "Could not validate credentials"}),
                httpx.Response(200, json={"id": 5, "state": "R", "progress_pct": 40}),
            ]
        }
    )
    client = await _client(script)
    job = await client.job(5)
    await client.close()
    assert job.state == "R"
    assert script.logins == 2
    assert script.seen[-1].headers["Authorization"] == "Bearer token-2"


async def test_a_token_refused_after_renewal_is_an_auth_error() -> None:
    script = Scripted({"GET /api/jobs/5/": [httpx.Response(401, json={"detail": "nope"})]})
    client = await _client(script)
    with pytest.raises(EcoTaxaAuthError):
        await client.job(5)
    await client.close()
    assert script.logins == 2


async def test_bad_credentials_and_missing_rights_are_auth_errors() -> None:
    with pytest.raises(EcoTaxaAuthError):
        await _client(Scripted({}), password=WRONG)
    script = Scripted({"POST /api/file_import/9": [httpx.Response(403, json={"detail": "Forbidden"})]})
    client = await _client(script)
    with pytest.raises(EcoTaxaAuthError, match="Forbidden"):
        await client.start_import(9, "/x")
    await client.close()


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_server_errors_are_transient(status: int) -> None:
    client = await _client(Scripted({"GET /api/jobs/1/": [httpx.Response(status, text="down")]}))
    with pytest.raises(DependencyUnavailable) as raised:
        await client.job(1)
    await client.close()
    assert raised.value.dependency == "ecotaxa"


async def test_connection_errors_and_timeouts_are_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    for handler in (refuse, slow):
        client = EcoTaxaClient("http://ecotaxa.test", transport=httpx.MockTransport(handler))
        await client.open()
        with pytest.raises(DependencyUnavailable):
            await client.login("user", PASSWORD)
        await client.close()


async def test_a_refusal_carries_ecotaxas_detail() -> None:
    script = Scripted({"POST /api/file_import/7": [httpx.Response(422, json={"detail": "Project not found"})]})
    client = await _client(script)
    with pytest.raises(EcoTaxaError, match="Project not found") as raised:
        await client.start_import(7, "/x")
    await client.close()
    assert not isinstance(raised.value, EcoTaxaAuthError)


async def test_an_asking_job_reports_its_question() -> None:
    answer = {"id": 8, "state": "A", "question": {"missing_taxa": ["Foo"]}, "errors": []}
    client = await _client(Scripted({"GET /api/jobs/8/": [httpx.Response(200, json=answer)]}))
    job = await client.job(8)
    await client.close()
    assert (job.state, job.question) == ("A", {"missing_taxa": ["Foo"]})


async def test_the_password_never_appears_in_errors() -> None:
    with pytest.raises(EcoTaxaAuthError) as raised:
        await _client(Scripted({}), password=WRONG)
    assert "wrong" not in str(raised.value)
