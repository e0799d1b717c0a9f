"""Watching a running stack from outside: stored results, samples (through the results API) and dead letters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import aio_pika
import httpx
from botocore.exceptions import ClientError

from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER, STAGE_HEADER


@dataclass(frozen=True)
class ObservedDeadLetter:
    bucket: str
    key: str
    stage: str
    code: str
    reason: str
    message_id: str | None = None
    routing_key: str = ""
    body: bytes = b""


def object_of(body: bytes) -> tuple[str, str]:
    """The (bucket, key) a dead-lettered body is about, whatever stage it failed in; ("?", "?") if none."""
    try:
        raw: Any = json.loads(body)
    except ValueError:
        return ("?", "?")
    if not isinstance(raw, dict):
        return ("?", "?")
    if isinstance(raw.get("object"), dict):
        return (str(raw["object"].get("bucket")), str(raw["object"].get("key")))
    if isinstance(raw.get("bucket"), str) and isinstance(raw.get("key"), str):
        return (raw["bucket"], raw["key"])  # an object ingest found by sweeping and refused
    records = raw.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        s3 = records[0].get("s3") or {}
        bucket = str((s3.get("bucket") or {}).get("name"))
        return (bucket, unquote_plus(str((s3.get("object") or {}).get("key"))))
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
                    bucket=bucket,
                    key=key,
                    stage=str(headers.get(STAGE_HEADER, "?")),
                    code=str(headers.get(CODE_HEADER, "x-death" if "x-death" in headers else "?")),
                    reason=str(headers.get(REASON_HEADER, "dead-lettered by the broker (delivery limit)")),
                    message_id=message.message_id,
                    routing_key=message.routing_key or "",
                    body=message.body,
                )
            )
            await message.ack()
    return found


PAGE_SIZE = 1000


def _api(results_url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=results_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def _every_page(client: httpx.AsyncClient, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of a paged listing, following the ``next`` cursor to the last page."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page_params = {**params, "limit": str(PAGE_SIZE)} | ({"cursor": cursor} if cursor else {})
        response = await client.get(path, params=page_params)
        response.raise_for_status()
        page = response.json()
        found.extend(page["items"])
        cursor = page["next"]
        if cursor is None:
            return found


async def stored_results(results_url: str, token: str, **filters: str) -> list[dict[str, Any]]:
    """Every stored result of the token's tenant that matches ``filters`` (the API's query parameters)."""
    async with _api(results_url, token) as client:
        return await _every_page(client, "/results", filters)


async def stored_samples(results_url: str, token: str) -> list[dict[str, Any]]:
    """Every sample of the token's tenant, with its aggregates and push state."""
    async with _api(results_url, token) as client:
        return await _every_page(client, "/samples", {})


async def stored_sample(results_url: str, token: str, sample_id: str) -> dict[str, Any] | None:
    """One sample, or None while the results service has not seen it."""
    async with _api(results_url, token) as client:
        response = await client.get(f"/samples/{sample_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found


async def close_sample(results_url: str, token: str, sample_id: str) -> dict[str, Any]:
    """Declare a sample finished (no more uploads expected), which asks for its EcoTaxa push."""
    return await _post(results_url, token, f"/samples/{sample_id}/close")


async def push_sample(results_url: str, token: str, sample_id: str) -> dict[str, Any]:
    """Ask for the sample's EcoTaxa push again; the answer shows the push state."""
    return await _post(results_url, token, f"/samples/{sample_id}/push")


async def _post(results_url: str, token: str, path: str) -> dict[str, Any]:
    async with _api(results_url, token) as client:
        response = await client.post(path)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found


def output_keys(result: dict[str, Any]) -> list[str]:
    """The keys of a result's crops and preview in its output bucket."""
    keys = [o["crop_key"] for o in result.get("objects") or [] if o.get("crop_key")]
    return keys + ([result["preview_key"]] if result.get("preview_key") else [])


def missing_outputs(s3: Any, results: list[dict[str, Any]]) -> list[str]:
    """The crops and previews the results name that are not in their output bucket."""
    missing = []
    for result in results:
        bucket = result.get("output_bucket")
        for key in output_keys(result):
            try:
                s3.head_object(Bucket=bucket, Key=key)
            except ClientError:  # 404 for a missing key or bucket
                missing.append(f"s3://{bucket}/{key}")
    return missing
