"""What a stored result looks like: pure mapping from events to documents, no I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aquaflow_results.objects import result_objects
from aquaflow_results.thresholds import ConfidenceThresholds
from aquaflow_shared.contracts import InferenceCompleted, InferenceRequested, ObjectRef, ResultAvailable, derive_id

# The unique key: one result per object version, model and requested version, however
# often the inference event is delivered. Without a pinned version (``requested_version``
# null, as in every result stored before versions could be pinned) it is one result per
# object version and model.
UNIQUE_FIELDS = ("object.bucket", "object.key", "object.etag", "object.version_id", "model", "requested_version")


def result_key(obj: ObjectRef, model: str, requested_version: str | None) -> str:
    """The id of the result of ``model`` (at a pinned version, if any) on one object version.

    The pinned version is what the routing rule asked for, known before inference runs, so
    a failed request and its later result share the id; an unpinned request keeps the id it
    always had, whichever version the worker serves.
    """
    pinned = (requested_version,) if requested_version is not None else ()
    return derive_id("result", *obj.identity, model, *pinned)


def result_id(completed: InferenceCompleted) -> str:
    return result_key(completed.object, completed.model, completed.requested_version)


def result_document(
    completed: InferenceCompleted, stored_at: datetime, thresholds: ConfidenceThresholds
) -> dict[str, Any]:
    """The stored result: the whole inference event plus what EcoTaxa and the API need.

    The event already carries the model and its version, the full score vectors, the
    routing rule, the sample id and the output bucket; every field is described in
    docs/results.md.
    """
    body = completed.model_dump(mode="python", exclude={"message_id", "schema_version"})
    return {
        "_id": result_id(completed),
        **body,
        "object_version": {"etag": completed.object.etag, "version_id": completed.object.version_id},
        "thresholds": thresholds.applying_to(completed.model),
        "objects": result_objects(completed, thresholds),
        "inference_message_id": completed.message_id,
        "summary": summarize(completed),
        "stored_at": stored_at,
        "event_published_at": None,
    }


def summarize(completed: InferenceCompleted) -> dict[str, float | int | str]:
    """A few fields a downstream subscriber can act on without reading the result."""
    summary: dict[str, float | int | str] = {}
    if completed.classification is not None:
        summary["label"] = completed.classification.label
        summary["score"] = round(completed.classification.score, 4)
    if completed.regions:
        summary["regions"] = len(completed.regions)
        labels = Counter(r.classification.label for r in completed.regions if r.classification is not None)
        if labels:
            summary["top_region_label"] = labels.most_common(1)[0][0]
    if completed.detections:
        summary["detections"] = len(completed.detections)
    for label, count in sorted(completed.counts.items()):
        summary[f"count.{label}"] = count
    for name, value in sorted(completed.measures.items()):
        summary[name] = round(value, 4)
    return summary


def result_event(
    completed: InferenceCompleted, stored_at: datetime, summary: dict[str, float | int | str] | None = None
) -> ResultAvailable:
    """The announcement of a stored result; ``summary``: its document's, when in hand."""
    rid = result_id(completed)
    return ResultAvailable(
        message_id=derive_id("result.available", rid),
        correlation_id=completed.correlation_id,
        tenant=completed.tenant,
        result_id=rid,
        object=completed.object,
        profile=completed.profile,
        model=completed.model,
        model_version=completed.model_version,
        summary=summarize(completed) if summary is None else summary,
        stored_at=stored_at,
        sample_id=completed.sample_id,
    )


@dataclass(frozen=True)
class DeadLetterCopy:
    """A copy of an inference dead letter: the request's body and why it failed."""

    body: bytes
    code: str
    reason: str


def failure_document(request: InferenceRequested, letter: DeadLetterCopy, failed_at: datetime) -> dict[str, Any]:
    """A failed upload, keyed by the id its result would have had, so a later result cancels it."""
    return {
        "_id": result_key(request.object, request.model, request.model_version),
        "tenant": request.tenant,
        "sample_id": request.sample_id,
        "object": request.object.model_dump(mode="python"),
        "model": request.model,
        "requested_version": request.model_version,
        "primary": request.primary,
        "code": letter.code,
        "reason": letter.reason,
        "failed_at": failed_at,
    }
