"""The results use case: store once, update the sample, announce once (at least once on crashes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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


def upload_metadata(completed: InferenceCompleted) -> Callable[[], dict[str, Any]]:
    """The sample metadata an upload brings, for a sample this result is the first news of."""

    def metadata() -> dict[str, Any]:
        from_upload = metadata_from_user_metadata(completed.object.metadata)
        return from_upload.as_document() if from_upload else {}

    return metadata


async def record_result(completed: InferenceCompleted, recorder: ResultRecorder) -> str:
    """Store the result, refresh its sample and publish its event; return the outcome for the log line.

    Each effect happens once however often the inference event comes:

    - the result: one upsert keyed by its id, which reports whether it created it;
    - the sample's figures: recomputed from the stored results, so counted once; the
      refresh finishes before this returns, so before the message is acknowledged;
    - the event: a redelivery that finds the result announced does nothing. If a crash came
      between storing and marking it announced, the redelivery refreshes the sample again
      (recomputed, so counted once) and announces it with the same message id and
      ``stored_at`` as the first try: the same event, never a second, distinct one.

    MongoDB commands for a first delivery: the result's upsert (shared with the other
    messages in flight, and carrying earlier results' marks), the sample's refresh (shared
    by the results of the sample in flight) and nothing else: the mark rides with a later
    write (``ResultStore.mark_published_soon``).
    """
    document = result_document(completed, datetime.now(UTC), recorder.thresholds)
    saved = await recorder.results.save(document)
    if saved.event_published:
        return "duplicate"
    if completed.sample_id is not None:
        await refresh_sample(
            completed.tenant,
            completed.sample_id,
            recorder.results,
            recorder.samples,
            recorder.on_sample_ready,
            metadata_if_new=upload_metadata(completed),
        )
    event = result_event(completed, saved.stored_at, document["summary"])
    await recorder.announce(event)
    recorder.results.mark_published_soon(event.result_id, datetime.now(UTC))
    return "stored" if saved.created else "announced"
