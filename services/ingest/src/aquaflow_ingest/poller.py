"""The S3 poller, for object stores that send no notifications.

Every cycle lists each configured bucket/prefix, HEADs the object versions the
checkpoint does not cover, hands them to the ``Ingestor`` and saves the
checkpoint once their announcements are confirmed (at-least-once: a crash before
the save announces them again with the same ``message_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError

from aquaflow_ingest.checkpoint import ListedObject, PollState, Scan, SourceState
from aquaflow_ingest.checkpoint_file import CheckpointStore
from aquaflow_ingest.metrics import IngestMetrics
from aquaflow_ingest.object_store import ObjectStore
from aquaflow_ingest.service import Ingestor, Outcome, Source
from aquaflow_ingest.settings import PollSource
from aquaflow_shared.contracts import ObjectRef
from aquaflow_shared.errors import PermanentError

SOURCE: Source = "s3-poller"

# Sends a rejected object's description to the dead-letter queue with the reason.
Reject = Callable[[dict[str, Any], PermanentError], Awaitable[None]]


@dataclass
class CycleReport:
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class Poller:
    def __init__(
        self,
        *,
        sources: Sequence[PollSource],
        store: ObjectStore,
        checkpoints: CheckpointStore,
        ingestor: Ingestor,
        reject: Reject,
        metrics: IngestMetrics,
        interval_seconds: float,
        grace_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sources = tuple(sources)
        self._store = store
        self._checkpoints = checkpoints
        self._ingestor = ingestor
        self._reject = reject
        self._metrics = metrics
        self._interval = interval_seconds
        self._grace = timedelta(seconds=grace_seconds)
        self._clock = clock
        self._state: PollState | None = None
        self._task: asyncio.Task[None] | None = None
        self._log = structlog.get_logger(stage="ingest", component="poller")

    async def start(self) -> None:
        """Load the checkpoint (an unusable one stops start-up) and poll in the background."""
        self._state = await self._checkpoints.load()
        self._task = asyncio.create_task(self._run(), name="ingest-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                report = await self.run_cycle()
            except Exception as error:  # noqa: BLE001 - one bad cycle must not end polling
                self._metrics.poll_cycles.labels("failed").inc()
                self._log.warning("poll cycle failed", reason=f"{type(error).__name__}: {error}")
            else:
                self._metrics.poll_cycles.labels("ok").inc()
                self._metrics.last_poll.set(time.time())
                if report.outcomes:
                    self._log.info("poll cycle done", **report.outcomes)
            await asyncio.sleep(self._interval)

    async def run_cycle(self) -> CycleReport:
        if self._state is None:
            self._state = await self._checkpoints.load()
        report = CycleReport()
        for source in self._sources:
            state = self._state.source(source.name)
            scan = Scan(state, self._grace)
            async for listed in self._store.list_objects(source.bucket, source.prefix):
                scan.see(listed)
            fresh = scan.new_objects
            self._metrics.objects_found.labels(source.bucket).inc(len(fresh))
            watermark = state.watermark
            try:
                for listed in fresh:
                    report.add(await self._settle(source, state, listed))
            except Exception:
                # What was recorded is confirmed: keep it, so it is not announced again.
                await self._checkpoints.save(self._state)
                raise
            state.advance(scan)
            if fresh or state.watermark != watermark:
                await self._checkpoints.save(self._state)
        return report

    async def _settle(self, source: PollSource, state: SourceState, listed: ListedObject) -> str:
        head = await self._store.head(source.bucket, listed.key, listed.etag)
        if head is None:
            outcome = "gone"  # deleted or replaced since the listing; a replacement is listed next cycle
            fields: dict[str, Any] = {}
        else:
            description: dict[str, Any] = {
                "bucket": source.bucket,
                "key": listed.key,
                "etag": head.etag,
                "version_id": head.version_id,
                "size": head.size,
                "content_type": head.content_type,
                "metadata": head.metadata,
            }
            try:
                obj = _object_ref(description)
                result = await self._ingestor.ingest(obj, source=SOURCE, event_time=listed.last_modified)
            except PermanentError as error:
                await self._reject(description, error)
                outcome = "dead_lettered"
                fields = {"reason": error.reason, "code": error.code}
            else:
                outcome = result.value
                fields = {"correlation_id": obj.upload_id()}
                if result is Outcome.PUBLISHED:
                    lag = (self._clock() - listed.last_modified).total_seconds()
                    self._metrics.poll_lag.observe(max(lag, 0.0))
        state.record(listed)
        self._metrics.events.labels(SOURCE, outcome).inc()
        level = "warning" if outcome == "dead_lettered" else "info"
        getattr(self._log, level)(
            "object settled", outcome=outcome, bucket=source.bucket, key=listed.key, etag=listed.etag, **fields
        )
        return outcome


def _object_ref(description: dict[str, Any]) -> ObjectRef:
    try:
        return ObjectRef.model_validate(description)
    except ValidationError as error:
        problem = error.errors()[0]["msg"]
        raise PermanentError(f"listed object cannot be described: {problem}", code="malformed") from error
