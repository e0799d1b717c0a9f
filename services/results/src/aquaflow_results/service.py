"""The results use case: store once, announce once (at least once on crashes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aquaflow_results.documents import result_document, result_event
from aquaflow_results.store import ResultStore
from aquaflow_shared.contracts import InferenceCompleted, ResultAvailable

Announce = Callable[[ResultAvailable], Awaitable[None]]


async def record_result(completed: InferenceCompleted, store: ResultStore, announce: Announce) -> str:
    """Store the result and publish its event; return the outcome for the log line.

    A redelivered inference event finds its result stored and, if the event went
    out already, does nothing. If a crash came between storing and announcing,
    the redelivery announces it, with the same message id as the first try would
    have used.
    """
    now = datetime.now(UTC)
    saved = await store.save(result_document(completed, now))
    if saved.event_published:
        return "duplicate"
    event = result_event(completed, saved.stored_at)
    await announce(event)
    await store.mark_published(event.result_id, datetime.now(UTC))
    return "stored" if saved.created else "announced"
