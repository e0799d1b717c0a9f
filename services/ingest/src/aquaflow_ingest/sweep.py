"""The sweep: lists watched buckets page by page and announces what no claim covers.

One mechanism for two jobs:

- ``s3-poller``: the primary source for S3 servers that send no notifications;
- ``s3-reconcile``: a safety net beside notifications, which real MinIO
  deployments lose now and then (a full queue dir, a target down too long).

Each cycle reads one ListObjectsV2 page per source (``StartAfter`` the saved
position, wrapping to the start after the last page) and hands every object
version not yet claimed to the ``Ingestor``, whose claim keeps a version found by
both a notification and the sweep single. Objects older than ``max_age`` are left
alone: their claims may have expired (``dedupe_ttl_seconds`` must exceed it by at
least one full pass), so announcing them would announce them again.
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

from aquaflow_ingest.checkpoint import SweepState
from aquaflow_ingest.checkpoint_file import CheckpointStore
from aquaflow_ingest.errors import ClaimPending, ObjectMissing
from aquaflow_ingest.metrics import IngestMetrics
from aquaflow_ingest.object_store import ListedObject, ObjectStore
from aquaflow_ingest.service import Ingestor, Outcome, Source
from aquaflow_shared.contracts import ObjectRef
from aquaflow_shared.errors import PermanentError

# Sends a rejected object's description to the dead-letter queue with the reason.
Reject = Callable[[dict[str, Any], PermanentError], Awaitable[None]]


@dataclass(frozen=True)
class SweepTarget:
    """One bucket, or one prefix of a bucket, and what the sweep is to it."""

    bucket: str
    prefix: str
    source: Source
    # Younger objects are skipped (their notification is most likely on its way); 0 for a poller.
    min_age: timedelta = timedelta(0)

    @property
    def name(self) -> str:
        where = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"{self.source}:{where}"


@dataclass
class CycleReport:
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class Sweeper:
    def __init__(
        self,
        *,
        targets: Sequence[SweepTarget],
        store: ObjectStore,
        checkpoints: CheckpointStore,
        ingestor: Ingestor,
        reject: Reject,
        metrics: IngestMetrics,
        interval_seconds: float,
        page_size: int,
        max_age_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._targets = tuple(targets)
        self._store = store
        self._checkpoints = checkpoints
        self._ingestor = ingestor
        self._reject = reject
        self._metrics = metrics
        self._interval = interval_seconds
        self._page_size = page_size
        self._max_age = timedelta(seconds=max_age_seconds)
        self._clock = clock
        self._state: SweepState | None = None
        self._task: asyncio.Task[None] | None = None
        self._log = structlog.get_logger(stage="ingest", component="sweep")

    async def start(self) -> None:
        """Load the checkpoint (an unusable one stops start-up) and sweep in the background."""
        self._state = await self._checkpoints.load()
        self._task = asyncio.create_task(self._run(), name="ingest-sweep")

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
            except Exception as error:  # noqa: BLE001 - one bad cycle must not end the sweep
                self._metrics.sweep_cycles.labels("failed").inc()
                self._log.warning("sweep cycle failed", reason=f"{type(error).__name__}: {error}")
            else:
                self._metrics.sweep_cycles.labels("ok").inc()
                self._metrics.last_sweep.set(time.time())
                if set(report.outcomes) - {"duplicate", "too_old", "too_recent"}:
                    self._log.info("sweep cycle done", **report.outcomes)
            await asyncio.sleep(self._interval)

    async def run_cycle(self) -> CycleReport:
        if self._state is None:
            self._state = await self._checkpoints.load()
        report = CycleReport()
        for target in self._targets:
            page = await self._store.list_page(
                target.bucket, target.prefix, start_after=self._state.start_after(target.name), max_keys=self._page_size
            )
            self._metrics.sweep_pages.labels(target.source, target.bucket).inc()
            for listed in page.objects:
                report.add(await self._settle(target, listed))
            last = page.objects[-1].key if page.objects else None
            if self._state.advance(target.name, last, truncated=page.truncated):
                self._metrics.sweep_passes.labels(target.source, target.bucket).inc()
            await self._checkpoints.save(self._state)
        return report

    async def _settle(self, target: SweepTarget, listed: ListedObject) -> str:
        age = self._clock() - listed.last_modified
        if age < target.min_age:
            return "too_recent"  # found again on the next pass if its notification was lost
        if age > self._max_age:
            return "too_old"
        description: dict[str, Any] = {
            "bucket": target.bucket,
            "key": listed.key,
            "etag": listed.etag,
            "size": listed.size,
        }
        fields: dict[str, Any] = {}
        try:
            listed_ref = _object_ref(description)
            if await self._ingestor.is_announced(listed_ref):
                return Outcome.DUPLICATE.value  # the cheap path: no HEAD for what a claim covers
            head = await self._store.head(target.bucket, listed.key, etag=listed.etag)
            description |= {
                "version_id": head.version_id,
                "size": head.size,
                "content_type": head.content_type,
                "metadata": head.metadata,
            }
            obj = _object_ref(description)
            try:
                outcome = (
                    await self._ingestor.ingest(obj, source=target.source, event_time=listed.last_modified)
                ).value
            except PermanentError:
                await self._ingestor.remember_rejected(obj)
                raise
        except ObjectMissing:
            outcome = "gone"  # deleted or replaced since the listing; a replacement is listed next pass
        except ClaimPending:
            outcome = "pending"  # another delivery is announcing it right now
        except PermanentError as error:
            await self._reject(description, error)
            outcome = "dead_lettered"
            fields = {"reason": error.reason, "code": error.code}
        if outcome in (Outcome.PUBLISHED.value, Outcome.EXPANDED.value):
            self._metrics.sweep_lag.observe(max(age.total_seconds(), 0.0))
        self._metrics.events.labels(target.source, outcome).inc()
        if outcome != Outcome.DUPLICATE.value:
            level = "warning" if outcome == "dead_lettered" else "info"
            getattr(self._log, level)(
                "object settled", outcome=outcome, source=target.source, bucket=target.bucket, key=listed.key, **fields
            )
        return outcome


def _object_ref(description: dict[str, Any]) -> ObjectRef:
    try:
        return ObjectRef.model_validate(description)
    except ValidationError as error:
        problem = error.errors()[0]["msg"]
        raise PermanentError(f"listed object cannot be described: {problem}", code="malformed") from error
