"""The results API as the command line uses it (httpx): pages, documents, downloads, batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from pydantic import SecretStr

from aquaflow_cli.errors import CliError, Exit

PAGE_SIZE = 1000


class ResultsApi:
    def __init__(self, base_url: str, token: SecretStr | None, timeout_seconds: float) -> None:
        if token is None or not token.get_secret_value():
            raise CliError(
                "no results API token: set AQUAFLOW_CLI_RESULTS_TOKEN or pass --token (the tenant's token)", Exit.USAGE
            )
        self._base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
            timeout=timeout_seconds,
        )

    async def __aenter__(self) -> ResultsApi:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._client.aclose()

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **options)
        except httpx.HTTPError as error:
            raise CliError(
                f"cannot reach the results API at {self._base_url}: {type(error).__name__}: {error}"
            ) from error
        if response.status_code in (401, 403):
            raise CliError("the results API refused the token: check AQUAFLOW_CLI_RESULTS_TOKEN or --token")
        if response.status_code >= 500:
            raise CliError(f"the results API failed ({response.status_code}): {_detail(response)}")
        if response.status_code >= 400:
            raise CliError(f"{method} {path}: {response.status_code} {_detail(response)}", Exit.FAILED)
        return response

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return (await self._send("GET", path, params=_clean(params))).json()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return (await self._send("POST", path, json=body)).json()

    async def items(
        self, path: str, params: dict[str, Any] | None = None, limit: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paged listing (``{items, next}``), following ``next``; at most ``limit``."""
        given = 0
        cursor: str | None = None
        while True:
            size = PAGE_SIZE if limit is None else max(min(PAGE_SIZE, limit - given), 1)
            page = await self.get(path, _clean(params) | {"limit": size} | ({"cursor": cursor} if cursor else {}))
            for item in page["items"]:
                if limit is not None and given >= limit:
                    return
                given += 1
                yield item
            cursor = page.get("next")
            if cursor is None or (limit is not None and given >= limit):
                return

    async def all_items(
        self, path: str, params: dict[str, Any] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return [item async for item in self.items(path, params, limit)]

    async def download(self, path: str, target: Path) -> int:
        """Stream a response body into ``target``; the bytes written."""
        written = 0
        try:
            async with self._client.stream("GET", path) as response:
                if response.status_code >= 400:
                    await response.aread()
                    code = Exit.FAILED if response.status_code == 404 else Exit.UNREACHABLE
                    raise CliError(f"GET {path}: {response.status_code} {_detail(response)}", code)
                with target.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
                        written += len(chunk)
        except httpx.HTTPError as error:
            raise CliError(f"cannot reach the results API at {self._base_url}: {error}") from error
        return written


def _clean(params: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (params or {}).items() if v is not None}


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    return str(detail)
