"""Sample use cases: a manifest arrives, a result arrives, a person closes the sample."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aquaflow_results.aggregates import is_complete, sample_aggregates
from aquaflow_results.documents import DeadLetterCopy, failure_document
from aquaflow_results.manifest import parse_manifest
from aquaflow_results.ports import ObjectReader, ResultStore, SampleReadyHook, SampleStore
from aquaflow_shared.contracts import InferenceRequested, SampleManifestReceived, decode
from aquaflow_shared.errors import PermanentError


async def refresh_sample(
    tenant: str, sample_id: str, results: ResultStore, samples: SampleStore, on_ready: SampleReadyHook
) -> dict[str, Any] | None:
    """Recompute the sample's aggregates from all its stored results.

    Idempotent: however often a result is delivered, it is one stored document, and
    the figures are derived from the stored documents. When the sample is complete or
    closed, ``on_ready`` is told (again on every refresh; the EcoTaxa pusher keeps its
    own state and pushes a sample once).
    """
    sample = await samples.get(tenant, sample_id)
    if sample is None:
        return None
    tally = await results.tally(tenant, sample_id)
    aggregates = sample_aggregates(tally.objects, sample.get("metadata") or {})
    complete = is_complete(sample.get("expected_objects"), tally.processed, tally.failed)
    updated = await samples.set_aggregates(
        tenant, sample_id, {**aggregates, "processed": tally.processed, "failed": tally.failed, "complete": complete}
    )
    if updated is not None and (updated.get("complete") or updated.get("closed")):
        await on_ready(tenant, sample_id)
    return updated


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
