"""Sample use cases: a manifest arrives, a result arrives, a person closes the sample."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aquaflow_results.aggregates import sample_figures
from aquaflow_results.documents import DeadLetterCopy, failure_document
from aquaflow_results.manifest import parse_manifest
from aquaflow_results.ports import ObjectReader, ResultStore, SampleReadyHook, SampleStore
from aquaflow_shared.contracts import InferenceRequested, SampleManifestReceived, decode
from aquaflow_shared.errors import PermanentError

Refresh = Callable[[], Awaitable[dict[str, Any] | None]]


@dataclass
class _Flight:
    """The refreshes of one sample in this process: one runs, the others wait for the next."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    asked: int = 0  # refreshes asked for so far
    served: int = 0  # asks that a finished refresh started after
    waiting: int = 0
    last: dict[str, Any] | None = None


class CoalescedRefreshes:
    """At most one refresh of a sample at a time in this process; asks made meanwhile share the next one.

    Every caller stores its result (or failure, or manifest) before it asks, so a refresh
    that starts after the ask reads it. While a refresh runs, the asks that arrive queue on
    the sample's lock; the first to get it refreshes once for all of them, and the others
    return its outcome. A burst of results into one sample costs a refresh per batch of
    messages in flight (the consumer's prefetch) instead of one per result, and no caller
    returns, so none acknowledges its message, before a refresh that includes its write.
    """

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight] = {}

    async def run(self, key: Hashable, refresh: Refresh) -> dict[str, Any] | None:
        flight = self._flights.setdefault(key, _Flight())
        flight.asked += 1
        ticket = flight.asked
        flight.waiting += 1
        try:
            async with flight.lock:
                if flight.served >= ticket:
                    return flight.last
                covers = flight.asked
                flight.last = await refresh()
                flight.served = covers
                return flight.last
        finally:
            flight.waiting -= 1
            if flight.waiting == 0 and self._flights.get(key) is flight:
                del self._flights[key]


# One for the process: the result, failure and manifest consumers all refresh samples.
_refreshes = CoalescedRefreshes()


async def refresh_sample(
    tenant: str, sample_id: str, results: ResultStore, samples: SampleStore, on_ready: SampleReadyHook
) -> dict[str, Any] | None:
    """Recompute the sample's aggregates from all its stored results and failures.

    Idempotent: however often a result is delivered, it is one stored document, and
    the figures are derived from the stored documents. Refreshes asked for while one
    runs are coalesced (``CoalescedRefreshes``). When the sample is complete or closed,
    ``on_ready`` is told (again on every refresh; the EcoTaxa pusher keeps its own state
    and pushes a sample once).
    """

    async def refresh() -> dict[str, Any] | None:
        sample = await samples.get(tenant, sample_id)
        if sample is None:
            return None
        tally = await results.tally(tenant, sample_id)
        figures = sample_figures(tally, sample.get("metadata") or {}, sample.get("expected_objects"))
        updated = await samples.set_aggregates(tenant, sample_id, figures)
        if updated is not None and (updated.get("complete") or updated.get("closed")):
            await on_ready(tenant, sample_id)
        return updated

    # Keyed by the store too, so that two stores (two databases) never share a refresh.
    return await _refreshes.run((id(samples), tenant, sample_id), refresh)


async def record_failure(
    letter: DeadLetterCopy, results: ResultStore, samples: SampleStore, on_ready: SampleReadyHook
) -> dict[str, Any]:
    """Count a failed upload against its sample, once however often its dead letter is copied.

    Only inference dead letters reach here: they carry the request, and with it the
    tenant and sample. An upload refused before routing has no sample yet.
    """
    try:
        request = decode(InferenceRequested, letter.body)
    except PermanentError:
        return {"outcome": "not_attributable", "code": letter.code}
    if request.sample_id is None:
        return {"outcome": "no_sample", "key": request.object.key, "code": letter.code}
    await samples.ensure(request.tenant, request.sample_id, {})
    await results.record_failure(failure_document(request, letter, datetime.now(UTC)))
    await refresh_sample(request.tenant, request.sample_id, results, samples, on_ready)
    return {
        "outcome": "failure_counted",
        "tenant": request.tenant,
        "sample_id": request.sample_id,
        "key": request.object.key,
        "code": letter.code,
    }


async def record_manifest(
    received: SampleManifestReceived,
    *,
    reader: ObjectReader,
    results: ResultStore,
    samples: SampleStore,
    on_ready: SampleReadyHook,
    max_bytes: int,
) -> dict[str, Any]:
    """Read, validate and store a sample manifest; a bad one is a PermanentError with its reason."""
    obj = received.object
    manifest = parse_manifest(obj.key, await reader.read(obj.bucket, obj.key, max_bytes))
    await samples.set_manifest(
        received.tenant,
        manifest.sample_id,
        manifest.metadata.as_document(),
        manifest.expected_objects,
        source=f"s3://{obj.bucket}/{obj.key}",
    )
    await refresh_sample(received.tenant, manifest.sample_id, results, samples, on_ready)
    return {
        "outcome": "manifest_stored",
        "sample_id": manifest.sample_id,
        "expected_objects": manifest.expected_objects,
    }


async def close_sample(
    tenant: str, sample_id: str, samples: SampleStore, on_ready: SampleReadyHook
) -> dict[str, Any] | None:
    """Close a sample by hand (no more uploads expected); None if the tenant has no such sample."""
    closed = await samples.close(tenant, sample_id, datetime.now(UTC))
    if closed is not None:
        await on_ready(tenant, sample_id)
    return closed
