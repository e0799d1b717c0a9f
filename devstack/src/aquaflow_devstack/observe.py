"""Watching a running stack from outside: stored results and dead letters by object."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import aio_pika
import httpx

from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER, STAGE_HEADER


@dataclass(frozen=True)
class ObservedDeadLetter:
    bucket: str
    key: str
    stage: str
    code: str
    reason: str


def object_of(body: bytes) -> tuple[str, str]:
    """The (bucket, key) a dead-lettered body is about, whatever stage it failed in."""
    try:
        raw: Any = json.loads(body)
    except ValueError:
        return ("?", "?")
    if isinstance(raw, dict) and isinstance(raw.get("object"), dict):
        return (str(raw["object"].get("bucket")), str(raw["object"].get("key")))
    if isinstance(raw, dict) and raw.get("Records"):
        s3 = raw["Records"][0].get("s3", {})
        return (str(s3.get("bucket", {}).get("name")), unquote_plus(str(s3.get("object", {}).get("key"))))
    return ("?", "?")


async def take_dead_letters(broker_url: str, queue_name: str) -> list[ObservedDeadLetter]:
    """Consume what is in the dead-letter queue now (acknowledging it)."""
    found: list[ObservedDeadLetter] = []
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=False)
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            headers = message.headers or {}
            bucket, key = object_of(message.body)
            found.append(
                ObservedDeadLetter(
                    bucket,
                    key,
                    str(headers.get(STAGE_HEADER, "?")),
                    str(headers.get(CODE_HEADER, "x-death" if "x-death" in headers else "?")),
                    str(headers.get(REASON_HEADER, "dead-lettered by the broker (delivery limit)")),
                )
            )
            await message.ack()
    return found


async def stored_results(results_url: str, **filters: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=results_url, timeout=10) as client:
        response = await client.get("/results", params={**filters, "limit": "1000"})
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found
