"""The results use case: store once, update the sample, announce once (at least once on crashes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aquaflow_results.documents import result_document, result_event
from aquaflow_results.manifest import metadata_from_user_metadata
from aquaflow_results.ports import ResultStore, SampleReadyHook, SampleStore
from aquaflow_results.samples import refresh_sample
from aquaflow_results.thresholds import ConfidenceThresholds
from aquaflow_shared.contracts import InferenceCompleted, ResultAvailable

Announce = Callable[[ResultAvailable], Awaitable[None]]


async def nothing_to_do(tenant: str, sample_id: str) -> None:
    return None


@dataclass(frozen=True)
class ResultRecorder:
    """What recording a result needs; built once by the composition root."""

    results: ResultStore
    samples: SampleStore
    announce: Announce
    thresholds: ConfidenceThresholds = field(default_factory=ConfidenceThresholds)
    on_sample_ready: SampleReadyHook = nothing_to_do


async def record_result(completed: InferenceCompleted, recorder: ResultRecorder) -> str:
    """Store the result, refresh its sample and publish its event; return the outcome for the log line.

    A redelivered inference event finds its result stored and, if the event went
    out already, does nothing. If a crash came between storing and announcing, the
    redelivery refreshes the sample again (recomputed, so counted once) and announces
    it with the same message id as the first try would have used.
    """
    now = datetime.now(UTC)
    saved = await recorder.results.save(result_document(completed, now, recorder.thresholds))
    if saved.event_published:
        return "duplicate"
    if completed.sample_id is not None:
        from_upload = metadata_from_user_metadata(completed.object.metadata)
        await recorder.samples.ensure(
            completed.tenant, completed.sample_id, from_upload.as_document() if from_upload else {}
        )
        await refresh_sample(
            completed.tenant, completed.sample_id, recorder.results, recorder.samples, recorder.on_sample_ready
        )
    event = result_event(completed, saved.stored_at)
    await recorder.announce(event)
    await recorder.results.mark_published(event.result_id, datetime.now(UTC))
    return "stored" if saved.created else "announced"
