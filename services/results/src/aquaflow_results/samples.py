"""Sample use cases: a manifest arrives, a result arrives, a person closes the sample."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aquaflow_results.aggregates import SampleTally, sample_figures
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


def figures_basis(sample: Mapping[str, Any]) -> dict[str, Any]:
    """What a sample's figures are computed from besides its results, as stored in the sample."""
    return {"metadata": sample.get("metadata"), "expected_objects": sample.get("expected_objects")}


class KnownBases:
    """Each sample's basis (``figures_basis``) when this process last wrote its figures, so that
    a refresh need not read the sample again.

    Only a hint: a write of figures computed from it is conditional on the sample still
    having exactly this basis (``SampleStore.set_aggregates``), so a manifest stored since,
    by any replica, makes the write refuse, and the refresh then reads the sample. Bounded:
    the samples refreshed least recently are forgotten first.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._bases: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()

    def get(self, key: Hashable) -> dict[str, Any] | None:
        basis = self._bases.get(key)
        if basis is not None:
            self._bases.move_to_end(key)
        return basis

    def remember(self, key: Hashable, basis: dict[str, Any]) -> None:
        self._bases[key] = basis
        self._bases.move_to_end(key)
        while len(self._bases) > self._size:
            self._bases.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        self._bases.pop(key, None)


# One for the process: the result, failure and manifest consumers all refresh samples.
_refreshes = CoalescedRefreshes()
_bases = KnownBases()


def _sample_key(samples: SampleStore, tenant: str, sample_id: str) -> Hashable:
    # The store too, so that two stores (two databases) never share a refresh.
    return (id(samples), tenant, sample_id)


async def refresh_sample(
    tenant: str,
    sample_id: str,
    results: ResultStore,
    samples: SampleStore,
    on_ready: SampleReadyHook,
    *,
    metadata_if_new: Callable[[], dict[str, Any]] = dict,
) -> dict[str, Any] | None:
    """Recompute the sample's aggregates from all its stored results and failures.

    Idempotent: however often a result is delivered, it is one stored document, and
    the figures are derived from the stored documents. Refreshes asked for while one
    runs are coalesced (``CoalescedRefreshes``). The sample is read only when this process
    does not know its basis (``KnownBases``) or the basis it knew has changed; one not
    stored yet is created then, with ``metadata_if_new()`` (an upload's metadata) as its
    metadata, so a sample is written once per refresh, not once more per result.
    When the sample is complete or closed, ``on_ready`` is told (again on every refresh;
    the EcoTaxa pusher keeps its own state and pushes a sample once).
    """
    key = _sample_key(samples, tenant, sample_id)

    async def write(tally: SampleTally, basis: dict[str, Any]) -> dict[str, Any] | None:
        figures = sample_figures(tally, basis["metadata"] or {}, basis["expected_objects"])
        return await samples.set_aggregates(tenant, sample_id, figures, basis)

    async def stored_sample() -> dict[str, Any]:
        found = await samples.get(tenant, sample_id)
        return found if found is not None else await samples.ensure(tenant, sample_id, metadata_if_new())

    async def refresh() -> dict[str, Any] | None:
        # Read after every ask (each caller stored its result before asking): counts them all.
        tally = await results.tally(tenant, sample_id)
        known = _bases.get(key)
        if known is not None and (updated := await write(tally, known)) is not None:
            basis = known
        else:
            # Not known, or refused: a manifest changed the basis, or a refresh that read more
            # results was written since (then this write is refused again, as it should be).
            basis = figures_basis(await stored_sample())
            updated = await write(tally, basis)
        if updated is None:
            _bases.forget(key)
            return None
        _bases.remember(key, basis)
        if updated.get("complete") or updated.get("closed"):
            await on_ready(tenant, sample_id)
        return updated

    return await _refreshes.run(key, refresh)


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
    # The refresh creates the sample if this failure is its first news.
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
    sample = await samples.set_manifest(
        received.tenant,
        manifest.sample_id,
        manifest.metadata.as_document(),
        manifest.expected_objects,
        source=f"s3://{obj.bucket}/{obj.key}",
    )
    # The manifest sets the basis of the sample's figures: its refresh need not read it again.
    _bases.remember(_sample_key(samples, received.tenant, manifest.sample_id), figures_basis(sample))
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
