"""EcoTaxa's HTTP API, the part an import needs: login, upload, import, job.

Failures are mapped once, here: unreachable EcoTaxa (connection errors, timeouts, 5xx,
429) is ``DependencyUnavailable("ecotaxa", …)``; refused credentials or rights are
``EcoTaxaAuthError``; any other 4xx is ``EcoTaxaError`` with EcoTaxa's own ``detail``.
An expired token (401) is renewed once with the credentials of the last login.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import SecretStr

from aquaflow_results.ecotaxa.errors import EcoTaxaAuthError, EcoTaxaError
from aquaflow_results.ecotaxa.state import JobStatus
from aquaflow_shared.errors import DependencyUnavailable

DEPENDENCY = "ecotaxa"


def api_base(url: str) -> str:
    """``https://host`` and ``https://host/api`` both mean the API under ``/api``."""
    base = url.rstrip("/")
    return base if base.endswith("/api") else f"{base}/api"


class EcoTaxaClient:
    def __init__(
        self, url: str, *, timeout_seconds: float = 60.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._base = api_base(url)
        self._timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0))
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._token: SecretStr | None = None
        self._credentials: tuple[str, SecretStr] | None = None

    async def open(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self._base, timeout=self._timeout, transport=self._transport)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> EcoTaxaClient:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def logged_in(self) -> bool:
        return self._token is not None

    async def login(self, username: str, password: str | SecretStr) -> str:
        """Log in; later calls carry the token and renew it once when it expires."""
        secret = password if isinstance(password, SecretStr) else SecretStr(password)
        self._credentials = (username, secret)
        return await self._login()

    async def _login(self) -> str:
        if self._credentials is None:
            raise EcoTaxaAuthError("not logged in to EcoTaxa")
        username, password = self._credentials
        response = await self._send(
            "POST", "/login", json={"username": username, "password": password.get_secret_value()}
        )
        if response.status_code in {401, 403}:
            raise EcoTaxaAuthError(f"EcoTaxa refused the login of {username!r}: {_detail(response)}")
        _raise_for_status(response)
        token = response.json()
        if not isinstance(token, str) or not token:
            raise EcoTaxaError("EcoTaxa's login answered no token")
        self._token = SecretStr(token)
        return token

    async def upload(self, data: bytes, filename: str) -> str:
        """Put a file into the user's files; returns its path on the server."""
        response = await self._authorized(
            "POST", "/user_files/", files={"file": (filename, data, _content_type(filename))}
        )
        path = response.json()
        if not isinstance(path, str) or not path:
            raise EcoTaxaError(f"EcoTaxa's upload answered no path: {path!r}")
        return path

    async def start_import(self, project_id: int, source_path: str, *, skip_existing_objects: bool = True) -> int:
        """Start importing ``source_path`` (a folder or archive on the server); returns the job id."""
        body = {"source_path": source_path, "skip_existing_objects": skip_existing_objects}
        response = await self._authorized("POST", f"/file_import/{project_id}", json=body)
        answer = response.json()
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if errors:
            raise EcoTaxaError("EcoTaxa refused the import: " + "; ".join(str(e) for e in errors))
        job_id = answer.get("job_id") if isinstance(answer, dict) else None
        if not isinstance(job_id, int) or isinstance(job_id, bool):
            raise EcoTaxaError(f"EcoTaxa's import answered no job id: {answer!r}")
        return job_id

    async def job(self, job_id: int) -> JobStatus:
        response = await self._authorized("GET", f"/jobs/{job_id}/")
        answer = response.json()
        if not isinstance(answer, dict) or "state" not in answer:
            raise EcoTaxaError(f"EcoTaxa's job {job_id} answered no state: {answer!r}")
        return JobStatus(
            id=int(answer.get("id", job_id)),
            state=str(answer["state"]),
            progress_pct=answer.get("progress_pct"),
            progress_msg=answer.get("progress_msg"),
            errors=tuple(str(e) for e in answer.get("errors") or ()),
            question=dict(answer.get("question") or {}),
            result=dict(answer.get("result") or {}),
        )

    async def _authorized(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._token is None:
            await self._login()
        response = await self._send(method, path, headers=self._auth_header(), **kwargs)
        if response.status_code == 401 and self._credentials is not None:
            # The token expired: one fresh login, one more try.
            await self._login()
            response = await self._send(method, path, headers=self._auth_header(), **kwargs)
        if response.status_code in {401, 403}:
            raise EcoTaxaAuthError(f"EcoTaxa refused {method} {path}: {_detail(response)}")
        _raise_for_status(response)
        return response

    def _auth_header(self) -> dict[str, str]:
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._http is None:
            raise DependencyUnavailable(DEPENDENCY, "client is not open")
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            raise DependencyUnavailable(DEPENDENCY, f"{method} {path} timed out") from error
        except httpx.TransportError as error:
            raise DependencyUnavailable(DEPENDENCY, f"{method} {path}: {type(error).__name__}: {error}") from error


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    request = response.request
    where = f"{request.method} {request.url.path}"
    if status >= 500 or status in {408, 429}:
        raise DependencyUnavailable(DEPENDENCY, f"{where} answered {status}: {_detail(response)}")
    raise EcoTaxaError(f"EcoTaxa refused {where} ({status}): {_detail(response)}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else json.dumps(detail, default=str)[:1000]
    return json.dumps(body, default=str)[:500]


def _content_type(filename: str) -> str:
    return "application/zip" if filename.lower().endswith(".zip") else "application/octet-stream"
