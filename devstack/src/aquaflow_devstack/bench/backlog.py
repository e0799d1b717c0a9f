"""The backlog run: many thousands of ``object.received`` events queued at once, then drained.

Small objects are stored, an ``ObjectReceived`` for each is published straight into the
events exchange (as ingest would after its checks), and while router, inference and
results drain the queue every service's resident memory and the rate of stored results
are sampled. A service that keeps something per message grows; a stage that slows with
the size of what it stores shows a falling rate.
"""

from __future__ import annotations

import asyncio
import io
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from PIL import Image
from tqdm import tqdm

from aquaflow_devstack.bench.figures import fit_line, windowed_rates
from aquaflow_devstack.bench.pipeline import CONNECT_TIMEOUT_SECONDS, PUBLISH_CHUNK, UPLOAD_THREADS, ResultWatcher
from aquaflow_devstack.bench.watch import Watch
from aquaflow_devstack.stack import NativeStack
from aquaflow_ingest.service import object_received_id
from aquaflow_shared.contracts import ObjectReceived, ObjectRef
from aquaflow_shared.topology import OBJECT_RECEIVED

SAMPLE_EVERY_SECONDS = 2.0
RATE_WINDOW_SECONDS = 10.0
SMALL_SIDE = 48
PER_SAMPLE = 1000  # objects per sample folder


def small_png(source: bytes) -> bytes:
    """A real vignette shrunk to at most 48 pixels a side: a small object, real content."""
    with Image.open(io.BytesIO(source)) as image:
        image.seek(0)
        small = image.convert("L")
        small.thumbnail((SMALL_SIDE, SMALL_SIDE))
    out = io.BytesIO()
    small.save(out, format="PNG")
    return out.getvalue()


@dataclass
class BacklogReport:
    messages: int
    results: int
    dead: int
    publish_seconds: float
    drain_seconds: float | None
    samples: list[dict[str, Any]] = field(default_factory=list)  # {t, results, rss: {service: MiB}}
    rates: list[tuple[float, float]] = field(default_factory=list)  # (t, results/s)

    def analysis(self) -> dict[str, Any]:
        """Slopes: RSS in MiB per minute and per 10,000 messages; rate in results/s per minute and relative."""
        found: dict[str, Any] = {"rss": {}, "throughput": {}}
        times = [s["t"] for s in self.samples]
        per_second = self.results / self.drain_seconds if self.drain_seconds else None
        for service in sorted({name for s in self.samples for name in s["rss"]}):
            points = [(s["t"], s["rss"][service]) for s in self.samples if service in s["rss"]]
            line = fit_line([p[0] for p in points], [p[1] for p in points])
            if line is None:
                continue
            per_minute = line.slope * 60
            found["rss"][service] = {
                "start_mib": points[0][1],
                "peak_mib": max(p[1] for p in points),
                "end_mib": points[-1][1],
                "slope_mib_per_minute": round(per_minute, 3),
                "slope_mib_per_10k_messages": round(line.slope / per_second * 10_000, 3) if per_second else None,
            }
        line = fit_line([t for t, _ in self.rates], [r for _, r in self.rates])
        mean_rate = sum(r for _, r in self.rates) / len(self.rates) if self.rates else None
        found["throughput"] = {
            "mean_results_per_second": None if mean_rate is None else round(mean_rate, 2),
            "overall_results_per_second": None if per_second is None else round(per_second, 2),
            "slope_per_minute": None if line is None else round(line.slope * 60, 3),
            # The line's change over the run, as a share of the mean rate: steady is near 0.
            "relative_change_over_run": (
                None
                if line is None or not mean_rate or not times
                else round(line.slope * (max(times) - min(times)) / mean_rate, 3)
            ),
        }
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "results": self.results,
            "dead_letters": self.dead,
            "publish_seconds": round(self.publish_seconds, 2),
            "drain_seconds": None if self.drain_seconds is None else round(self.drain_seconds, 2),
            "analysis": self.analysis(),
            "samples": self.samples,
            "rates": [(round(t, 1), round(r, 2)) for t, r in self.rates],
        }


def _store(stack: NativeStack, bucket: str, count: int, body: bytes) -> list[ObjectRef]:
    assert stack.s3 is not None
    client = stack.s3.client()

    def one(index: int) -> ObjectRef:
        key = f"backlog-{index // PER_SAMPLE:03d}/{index:06d}.png"
        answer = client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/png")
        return ObjectRef(bucket=bucket, key=key, etag=answer["ETag"], size=len(body), content_type="image/png")

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        return list(tqdm(pool.map(one, range(count)), total=count, desc="backlog objects stored", unit="object"))


async def _publish(stack: NativeStack, tenant: str, objects: list[ObjectRef]) -> None:
    connection = await aio_pika.connect(stack.config.broker_url, timeout=CONNECT_TIMEOUT_SECONDS)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(stack.topology.events.name, ensure=False)

        async def one(obj: ObjectRef) -> None:
            event = ObjectReceived(
                message_id=object_received_id(obj),
                correlation_id=obj.upload_id(),
                tenant=tenant,
                object=obj,
                source="minio-amqp",
            )
            await exchange.publish(
                aio_pika.Message(
                    event.model_dump_json().encode(),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    content_type="application/json",
                    message_id=event.message_id,
                    correlation_id=event.correlation_id,
                    headers={"x-aquaflow-tenant": tenant, "x-aquaflow-schema-version": event.schema_version},
                ),
                routing_key=OBJECT_RECEIVED,
            )

        for start in tqdm(range(0, len(objects), PUBLISH_CHUNK), desc="backlog published", unit="chunk", leave=False):
            await asyncio.gather(*(one(o) for o in objects[start : start + PUBLISH_CHUNK]))


async def run_backlog(
    stack: NativeStack,
    watcher: ResultWatcher,
    watch: Watch,
    *,
    bucket: str,
    tenant: str,
    count: int,
    source: bytes,
    timeout: float,
) -> BacklogReport:
    body = small_png(source)
    objects = await asyncio.to_thread(_store, stack, bucket, count, body)
    wanted = {(o.bucket, o.key) for o in objects}
    services = {name: pid for name, pid in watch.parts.items() if name in stack.services}
    began, began_wall = time.monotonic(), time.time()
    samples: list[dict[str, Any]] = []

    def sample() -> None:
        done = sum(1 for w in wanted if w in watcher.seen)
        rss = {name: rss for name, rss in watch.rss_mib().items() if name in services}
        samples.append({"t": round(time.monotonic() - began, 2), "results": done, "rss": rss})

    async def timed_publish() -> float:
        await _publish(stack, tenant, objects)
        return time.monotonic() - began

    publishing = asyncio.create_task(timed_publish())
    deadline = began + timeout
    with tqdm(total=count, desc="backlog drained", unit="message") as bar:
        while time.monotonic() < deadline:
            sample()
            bar.update(samples[-1]["results"] - bar.n)
            if samples[-1]["results"] >= count:
                break
            await asyncio.sleep(SAMPLE_EVERY_SECONDS)
    publish_seconds = await publishing
    arrivals = [seen for seen in (watcher.seen.get(w) for w in wanted) if seen is not None]
    results = [a for a in arrivals if not a.dead]
    stored = sorted(a.stored_at - began_wall for a in results)
    drain = stored[-1] if stored else None
    return BacklogReport(
        messages=count,
        results=len(results),
        dead=len(arrivals) - len(results),
        publish_seconds=publish_seconds,
        drain_seconds=drain,
        samples=samples,
        rates=windowed_rates(stored, 0.0, RATE_WINDOW_SECONDS),
    )
