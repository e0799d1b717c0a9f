"""One DEEPaaS module behind a running DEEPaaS API (``deepaas-run``), over async HTTP.

``POST /v2/models/<module>/predict/`` takes the image as a multipart file field and
answers JSON. DEEPaaS runs one request at a time per worker process and queues the rest
in the server, where a waiting request still runs down its HTTP timeout; so the client
sends at most ``concurrency`` requests at once (the server's worker count) and the others
wait here, before their timeout starts.

Failures are sorted as the settlement policy needs them:
- no connection, a reset, 502/503/504, or the module not served (404): ``DeepaasUnavailable``,
  an outage (the worker pauses and probes ``GET /v2/models/``);
- 400/413/415/422: the module refused this input: ``ModelRejectedInput``, dead-lettered;
- a timeout or a 500 while the server still lists the module: this request failed
  (``DeepaasFailed``), retried a bounded number of times; when the server does not answer
  the probe either, an outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from aquaflow_inference.deepaas_mapping import UnexpectedAnswer
from aquaflow_inference.errors import InferenceError, ModelRejectedInput
from aquaflow_shared.errors import DependencyUnavailable, TransientError

DEPENDENCY = "deepaas"
REFUSED_INPUT = frozenset({400, 413, 415, 422})
OUTAGE = frozenset({502, 503, 504})
# A bounded excerpt of an answer in an error: enough to see what went wrong.
EXCERPT = 300


class DeepaasUnavailable(InferenceError, DependencyUnavailable):
    """The DEEPaaS API cannot be reached or does not serve the module: an outage."""

    def __init__(self, reason: str) -> None:
        super().__init__(DEPENDENCY, reason)


class DeepaasFailed(InferenceError, TransientError):
    """The server serves the module, but this request failed or took too long: retry later."""

    code = "deepaas_failed"


class DeepaasClient:
    def __init__(
        self,
        base_url: str,
        module: str,
        *,
        concurrency: int = 1,
        timeout_seconds: float = 60.0,
        probe_timeout_seconds: float = 5.0,
        file_field: str = "image",
        form: Mapping[str, str] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.base_url = base_url.rstrip("/")
        self.module = module
        self.concurrency = concurrency
        self._timeout = timeout_seconds
        self._probe_timeout = probe_timeout_seconds
        self._file_field = file_field
        self._form = dict(form or {})
        self._slots = asyncio.Semaphore(concurrency)
        self._http: httpx.AsyncClient | None = None

    @property
    def predict_url(self) -> str:
        return f"{self.base_url}/v2/models/{self.module}/predict/"

    def open(self) -> None:
        if self._http is None:
            # A connection per slot, and one more so a probe never waits behind predictions.
            limits = httpx.Limits(max_connections=self.concurrency + 1, max_keepalive_connections=self.concurrency + 1)
            # A server that is up accepts a connection at once: connecting waits only as long as a probe.
            timeout = httpx.Timeout(self._timeout, connect=min(self._timeout, self._probe_timeout))
            self._http = httpx.AsyncClient(limits=limits, timeout=timeout)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        self.open()
        assert self._http is not None
        return self._http

    async def predict(self, payload: bytes, *, filename: str = "image.png", content_type: str = "image/png") -> Any:
        """The module's JSON answer for one file; waits for a free slot first."""
        async with self._slots:
            response = await self._post(payload, filename, content_type)
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError as error:
                    raise UnexpectedAnswer(f"{self.module} answered 200 with no JSON: {_excerpt(response)}") from error
            raise await self._failure(response)

    async def _post(self, payload: bytes, filename: str, content_type: str) -> httpx.Response:
        try:
            return await self._client().post(
                self.predict_url,
                files={self._file_field: (filename, payload, content_type)},
                data=self._form,
                headers={"accept": "application/json"},
            )
        except httpx.ConnectTimeout as error:
            raise DeepaasUnavailable(f"no connection to {self.base_url}: {type(error).__name__}") from error
        except httpx.TimeoutException as error:
            # A timeout alone does not say whether the server is down or only slow: ask it.
            if await self.serves_module():
                raise DeepaasFailed(f"{self.module} gave no answer within {self._timeout}s") from error
            raise DeepaasUnavailable(f"{self.base_url} stopped answering: {type(error).__name__}") from error
        except httpx.TransportError as error:
            raise DeepaasUnavailable(f"{self.base_url}: {type(error).__name__}: {error}") from error

    async def _failure(self, response: httpx.Response) -> Exception:
        status = response.status_code
        what = f"{self.module} answered {status}: {_excerpt(response)}"
        if status in REFUSED_INPUT:
            return ModelRejectedInput(f"the DEEPaaS module refused the input: {what}")
        if status == 404:
            return DeepaasUnavailable(f"{self.base_url} does not serve the module {self.module!r} (404)")
        if status in OUTAGE or (status >= 500 and not await self.serves_module()):
            return DeepaasUnavailable(what)
        return DeepaasFailed(what)

    async def models(self) -> list[dict[str, Any]]:
        """``GET /v2/models/``: the modules the server serves, with their metadata."""
        response = await self._client().get(f"{self.base_url}/v2/models/", timeout=self._probe_timeout)
        response.raise_for_status()
        listing = response.json()
        models = listing.get("models") if isinstance(listing, dict) else None
        return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []

    async def metadata(self) -> dict[str, Any] | None:
        """The module's metadata from the listing, or None when the server does not serve it."""
        return next((m for m in await self.models() if m.get("id") == self.module), None)

    async def serves_module(self) -> bool:
        """Whether the server answers and serves the module now: the probe a paused worker polls.

        The listing is answered by the server's event loop, not by its busy workers, so a
        server working through a queue still answers it at once.
        """
        try:
            return await self.metadata() is not None
        except (httpx.HTTPError, ValueError):
            return False


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:EXCERPT] + ("…" if len(text) > EXCERPT else "")
