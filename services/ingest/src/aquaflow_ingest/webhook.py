"""MinIO's webhook target: ``POST /minio/events`` with the same JSON body as its AMQP target.

The answer tells MinIO whether to keep the event in its queue dir:

- 200 once every resulting event is published and confirmed by the broker;
- 200 as well for a body that can never be ingested (malformed, unsafe, refused),
  once it is in the dead-letter queue with its reason: any other answer would make
  MinIO retry it forever; the response body says ``dead_lettered`` and the code;
- 401 for a missing or wrong bearer token, 413 for a body over the limit, 405 for
  another method (HEAD answers 200: MinIO probes the endpoint with it);
- 503 when a dependency (broker, S3, Redis) fails, or another delivery holds the
  object's claim: MinIO keeps the event and sends it again.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream.asgi.types import Receive, Scope, Send
from pydantic import SecretStr

from aquaflow_ingest.metrics import IngestMetrics
from aquaflow_shared.errors import PermanentError

PATH = "/minio/events"

# Ingests one notification body; returns the fields of its log line.
Handle = Callable[[bytes], Awaitable[dict[str, Any]]]
# Dead-letters a body that can never be ingested.
DeadLetterBody = Callable[[bytes, PermanentError], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


class MinioWebhook:
    def __init__(
        self,
        *,
        token: SecretStr,
        max_body_bytes: int,
        handle: Handle,
        dead_letter: DeadLetterBody,
        metrics: IngestMetrics,
    ) -> None:
        self._expected = f"Bearer {token.get_secret_value()}".encode()
        self._max = max_body_bytes
        self._handle = handle
        self._dead_letter = dead_letter
        self._metrics = metrics
        self._log = structlog.get_logger(stage="ingest", component="webhook")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status, answer, fields = await self._answer(scope, receive)
        self._metrics.webhook_requests.labels(str(status)).inc()
        level = "info" if status < 400 else "warning"
        getattr(self._log, level)(
            "webhook request",
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **answer,
            **fields,
        )
        body = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any], dict[str, Any]]:
        refused = self._refusal(scope)
        if refused is not None:
            return refused
        try:
            body = await self._read(receive)
        except BodyTooLarge:
            return 413, {"error": f"body over {self._max} bytes"}, {}
        return await self._ingest(body)

    def _refusal(self, scope: Scope) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
        method = scope["method"]
        if method == "HEAD":
            return 200, {"outcome": "ready"}, {}
        if method != "POST":
            return 405, {"error": "POST bucket notifications here"}, {}
        headers = dict(scope.get("headers", []))
        if not hmac.compare_digest(headers.get(b"authorization", b""), self._expected):
            return 401, {"error": "missing or wrong bearer token"}, {}
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > self._max:
            return 413, {"error": f"body over {self._max} bytes"}, {}
        return None

    async def _ingest(self, body: bytes) -> tuple[int, dict[str, Any], dict[str, Any]]:
        try:
            fields = await self._handle(body)
        except PermanentError as error:
            try:
                await self._dead_letter(body, error)
            except Exception as failure:  # noqa: BLE001 - MinIO keeps the event and retries
                return 503, {"error": "dead-letter queue unavailable"}, {"reason": _why(failure)}
            return 200, {"outcome": "dead_lettered", "code": error.code}, {"reason": error.reason}
        except Exception as failure:  # noqa: BLE001 - a dependency failed: MinIO keeps the event and retries
            return 503, {"error": "temporarily unavailable"}, {"reason": _why(failure)}
        return 200, {"outcome": str(fields.pop("outcome", "ok"))}, fields

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _why(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
