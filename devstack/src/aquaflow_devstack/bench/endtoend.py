"""The end-to-end settings of one model: idle single uploads, a burst at full load, an open loop at half its rate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aquaflow_devstack.bench.figures import median, percentile, rate
from aquaflow_devstack.bench.images import BenchImage
from aquaflow_devstack.bench.pipeline import (
    Announcer,
    ResultWatcher,
    Settled,
    Upload,
    keyed_bodies,
    put_uploads,
    settle,
)
from aquaflow_devstack.bench.watch import Cost, Watch
from aquaflow_devstack.stack import NativeStack

WARM_UPLOADS = 20  # first connections, first batches, imports: not measured
IDLE_SINGLES = 5
MIN_OPEN_LOOP = 50


@dataclass
class EndToEnd:
    model: str
    uploads: int
    burst: Settled | None = None
    burst_cost: Cost | None = None
    idle_latencies: list[float] = field(default_factory=list)
    open_rate: float | None = None
    open_loop: Settled | None = None
    complete: bool = True

    @property
    def images_per_second(self) -> float | None:
        if self.burst is None or self.burst.span_seconds is None:
            return None
        return rate(self.burst.results, self.burst.span_seconds)

    @property
    def idle_latency(self) -> float | None:
        return median(self.idle_latencies)

    def open_percentile(self, fraction: float) -> float | None:
        return None if self.open_loop is None else percentile(self.open_loop.latencies, fraction)

    def as_dict(self) -> dict[str, Any]:
        def settled(s: Settled | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {
                "results": s.results,
                "dead_letters": s.dead,
                "missing": s.missing,
                "span_seconds": None if s.span_seconds is None else round(s.span_seconds, 3),
                "dead_letter_reasons": s.dead_reasons,
            }

        def seconds(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "model": self.model,
            "uploads": self.uploads,
            "complete": self.complete,
            "burst": settled(self.burst),
            "images_per_second": seconds(self.images_per_second),
            "burst_cost": None if self.burst_cost is None else self.burst_cost.as_dict(),
            "idle_latencies_s": [round(v, 4) for v in self.idle_latencies],
            "idle_latency_s": seconds(self.idle_latency),
            "open_loop_rate": seconds(self.open_rate),
            "open_loop": settled(self.open_loop),
            "open_loop_p50_s": seconds(self.open_percentile(0.5)),
            "open_loop_p99_s": seconds(self.open_percentile(0.99)),
        }


async def _upload(stack: NativeStack, bucket: str, images: list[BenchImage], phase: str) -> list[Upload]:
    import asyncio

    return await asyncio.to_thread(put_uploads, stack, bucket, keyed_bodies(images, phase), f"{phase} objects stored")


async def end_to_end(
    stack: NativeStack,
    watcher: ResultWatcher,
    watch: Watch,
    *,
    model: str,
    bucket: str,
    images: list[BenchImage],
    open_loop_seconds: float,
    timeout: float,
) -> EndToEnd:
    found = EndToEnd(model=model, uploads=len(images))
    async with Announcer(stack) as announcer:
        warm = await _upload(stack, bucket, images[:WARM_UPLOADS], f"{model}-warm")
        await announcer.at_once(warm)
        await watcher.wait_for([u.where for u in warm], timeout, f"{model}: warm-up")

        singles = await _upload(stack, bucket, images[:IDLE_SINGLES], f"{model}-idle")
        for upload in singles:
            await announcer.one(upload)
            await watcher.wait_for([upload.where], timeout)
        found.idle_latencies = settle(singles, announcer.announced, watcher.seen).latencies

        burst = await _upload(stack, bucket, images, f"{model}-burst")
        before = watch.mark()
        await announcer.at_once(burst)
        found.complete = await watcher.wait_for([u.where for u in burst], timeout, f"{model}: {len(burst)} at once")
        after = watch.mark()
        found.burst = settle(burst, announcer.announced, watcher.seen)
        found.burst_cost = watch.cost(before, after, found.burst.results, (model,))

        peak = found.images_per_second
        if peak is None:
            return found
        found.open_rate = peak / 2
        count = min(len(images), max(MIN_OPEN_LOOP, int(found.open_rate * open_loop_seconds)))
        steady = await _upload(stack, bucket, images[:count], f"{model}-open")
        await announcer.at_rate(steady, found.open_rate)
        done = await watcher.wait_for([u.where for u in steady], timeout, f"{model}: open loop")
        found.complete = found.complete and done
        found.open_loop = settle(steady, announcer.announced, watcher.seen)
    return found


async def profiled_burst(
    stack: NativeStack, watcher: ResultWatcher, *, model: str, bucket: str, images: list[BenchImage], timeout: float
) -> Settled:
    """One more burst, while the profiler samples the services (kept apart from the measured ones)."""
    async with Announcer(stack) as announcer:
        uploads = await _upload(stack, bucket, images, f"{model}-profiled")
        await announcer.at_once(uploads)
        await watcher.wait_for([u.where for u in uploads], timeout, f"{model}: profiled burst")
        return settle(uploads, announcer.announced, watcher.seen)
