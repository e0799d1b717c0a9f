"""``GET /results?tenant=…&bucket=…&key=…``: stored results as JSON, for people and tools."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from faststream.asgi.types import ASGIApp, Receive, Scope, Send

from aquaflow_results.errors import StoreUnavailable
from aquaflow_results.store import QUERYABLE, ResultStore

MAX_LIMIT = 1000


async def _respond(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload, default=str).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def results_route(store: ResultStore) -> ASGIApp:
    async def results(scope: Scope, receive: Receive, send: Send) -> None:
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        try:
            limit = min(int(query.pop("limit", "100")), MAX_LIMIT)
        except ValueError:
            await _respond(send, 400, {"detail": "limit must be an integer"})
            return
        unknown = sorted(set(query) - set(QUERYABLE))
        if unknown:
            await _respond(send, 400, {"detail": f"unknown filters {unknown}; use {sorted(QUERYABLE)}"})
            return
        try:
            found = await store.find(query, limit)
        except StoreUnavailable as error:
            await _respond(send, 503, {"detail": str(error)})
            return
        await _respond(send, 200, found)

    return results
