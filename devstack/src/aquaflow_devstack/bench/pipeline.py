"""aquaflow end to end: uploads into S3, announced as MinIO does, timed until their results are stored.

The stack is the native one (``NativeStack``: the four services as their own processes,
RabbitMQ, MongoDB) with two changes that let each part be accounted for: moto's S3 server
runs as a process of its own rather than in a thread of this one, and Triton is the
benchmark's, serving both models, shared with the raw Triton runs.

Results are observed the way a downstream subscriber sees them: a queue of this process
bound to ``result.#`` on the events exchange (each ``ResultAvailable`` carries its key and
``stored_at``) and to the dead-letter exchange, so nothing polls MongoDB while it works.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
from tqdm import tqdm

from aquaflow_devstack.bench.images import BenchImage
from aquaflow_devstack.minio_events import minio_event_for_put
from aquaflow_devstack.ports import free_port, port_open
from aquaflow_devstack.s3 import ACCESS_KEY, S3_URL_ENV, SECRET_KEY
from aquaflow_devstack.stack import NativeStack
from aquaflow_shared.topology import S3_NOTIFICATION

PUBLISH_CHUNK = 200  # publishes in flight at once (publisher confirms are pipelined)
# A broker that accepts the TCP connection but never finishes the handshake (stopping, say)
# must fail the phase, not hang the run.
CONNECT_TIMEOUT_SECONDS = 30.0
UPLOAD_THREADS = 4
S3_READY_SECONDS = 60.0


@dataclass
class MotoProcess:
    """moto's S3 server in a process of its own, so its CPU can be told from this one's."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_moto_process(log_path: Path) -> MotoProcess:
    """Start moto_server and point ``start_s3`` (the stack's) at it through its environment variable."""
    port = free_port()
    executable = Path(sys.executable).with_name("moto_server")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(executable), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + S3_READY_SECONDS
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"moto_server did not listen on {port}: see {log_path}")
        time.sleep(0.1)
    os.environ[S3_URL_ENV] = f"http://127.0.0.1:{port}"
    os.environ.setdefault("AQUAFLOW_TEST_S3_ACCESS_KEY_ID", ACCESS_KEY)
    os.environ.setdefault("AQUAFLOW_TEST_S3_SECRET_ACCESS_KEY", SECRET_KEY)
    return MotoProcess(process, port)


@dataclass(frozen=True)
class Arrival:
    bucket: str
    key: str
    stored_at: float  # epoch seconds: the result's stored_at, or when the dead letter arrived
    dead: bool
    reason: str = ""


def arrival_of(body: bytes, routing_key: str, headers: dict[str, Any], now: float) -> Arrival | None:
    """A ``ResultAvailable`` (``result.*``) or a dead letter → what it says about one upload; None for neither."""
    try:
        raw = json.loads(body)
    except ValueError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("object"), dict):
        return None
    obj = raw["object"]
    if routing_key.startswith("result."):
        stored = datetime.fromisoformat(str(raw["stored_at"])).timestamp()
        return Arrival(str(obj.get("bucket")), str(obj.get("key")), stored, dead=False)
    reason = str(headers.get("x-aquaflow-reason", "dead letter"))
    return Arrival(str(obj.get("bucket")), str(obj.get("key")), now, dead=True, reason=reason)


class ResultWatcher:
    """Every result announcement and dead letter of the stack, by (bucket, key), as they arrive."""

    def __init__(self, stack: NativeStack) -> None:
        self.stack = stack
        self.seen: dict[tuple[str, str], Arrival] = {}
        self.arrivals: list[tuple[float, Arrival]] = []  # (monotonic time seen, arrival)
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> ResultWatcher:
        topology = self.stack.topology
        self._connection = await aio_pika.connect_robust(self.stack.config.broker_url, timeout=CONNECT_TIMEOUT_SECONDS)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=1000)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(topology.events.name, routing_key="result.#")
        await queue.bind(topology.dead_letters.name, routing_key="#")
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        arrival = arrival_of(message.body, message.routing_key or "", dict(message.headers or {}), time.time())
        if arrival is None:
            return
        where = (arrival.bucket, arrival.key)
        if where not in self.seen or (self.seen[where].dead and not arrival.dead):
            self.seen[where] = arrival
            self.arrivals.append((time.monotonic(), arrival))
            self._changed.set()

    async def wait_for(self, wanted: Iterable[tuple[str, str]], timeout: float, desc: str | None = None) -> bool:
        """Until every upload in ``wanted`` has a result or a dead letter; False at the deadline."""
        pending = set(wanted)
        deadline = time.monotonic() + timeout
        with tqdm(total=len(pending), desc=desc, unit="image", disable=desc is None, leave=False) as bar:
            while True:
                settled = {w for w in pending if w in self.seen}
                pending -= settled
                bar.update(len(settled))
                if not pending:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=min(left, 1.0))
                except TimeoutError:
                    continue


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    event: dict[str, Any]  # the MinIO notification announcing it

    @property
    def where(self) -> tuple[str, str]:
        return (self.bucket, self.key)


def put_uploads(stack: NativeStack, bucket: str, keyed: list[tuple[str, bytes]], desc: str) -> list[Upload]:
    """Store each object in S3 (a few threads, one client) and build its notification; not timed."""
    assert stack.s3 is not None
    client = stack.s3.client()

    def one(item: tuple[str, bytes]) -> Upload:
        key, body = item
        content_type = "image/png" if key.lower().endswith(".png") else "image/jpeg"
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        return Upload(bucket, key, minio_event_for_put(client, bucket, key))

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        return list(tqdm(pool.map(one, keyed), total=len(keyed), desc=desc, unit="object", leave=False))


class Announcer:
    """Publishes notifications as MinIO's AMQP target does, recording when each went out (epoch seconds)."""

    def __init__(self, stack: NativeStack) -> None:
        self.stack = stack
        self.announced: dict[tuple[str, str], float] = {}
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def __aenter__(self) -> Announcer:
        self._connection = await aio_pika.connect(self.stack.config.broker_url, timeout=CONNECT_TIMEOUT_SECONDS)
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await channel.declare_exchange(
            self.stack.topology.notifications.name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def one(self, upload: Upload) -> None:
        assert self._exchange is not None
        self.announced[upload.where] = time.time()
        await self._exchange.publish(
            aio_pika.Message(
                json.dumps(upload.event).encode(),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type="application/json",
            ),
            routing_key=S3_NOTIFICATION,
        )

    async def at_once(self, uploads: list[Upload]) -> None:
        """All of them as fast as the broker confirms, a chunk of publishes in flight at a time."""
        for start in range(0, len(uploads), PUBLISH_CHUNK):
            await asyncio.gather(*(self.one(u) for u in uploads[start : start + PUBLISH_CHUNK]))

    async def at_rate(self, uploads: list[Upload], per_second: float) -> None:
        """One every 1/per_second seconds on a fixed schedule (open loop: a slow pipeline does not slow it)."""
        began = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        for i, upload in enumerate(uploads):
            delay = began + i / per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.one(upload))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)


@dataclass
class Settled:
    """What came of a set of uploads."""

    results: int
    dead: int
    missing: int
    latencies: list[float] = field(default_factory=list)  # stored_at − announced, seconds, per result
    first_announced: float | None = None
    last_stored: float | None = None
    dead_reasons: list[str] = field(default_factory=list)

    @property
    def span_seconds(self) -> float | None:
        """From the first announcement to the last stored result."""
        if self.first_announced is None or self.last_stored is None:
            return None
        return self.last_stored - self.first_announced


def settle(
    uploads: list[Upload], announced: dict[tuple[str, str], float], seen: dict[tuple[str, str], Arrival]
) -> Settled:
    """Count results, dead letters and missing uploads, with each result's upload-to-result latency."""
    results = [seen[u.where] for u in uploads if u.where in seen and not seen[u.where].dead]
    dead = [seen[u.where] for u in uploads if u.where in seen and seen[u.where].dead]
    latencies = [
        seen[u.where].stored_at - announced[u.where]
        for u in uploads
        if u.where in seen and u.where in announced and not seen[u.where].dead
    ]
    times = [announced[u.where] for u in uploads if u.where in announced]
    return Settled(
        results=len(results),
        dead=len(dead),
        missing=len(uploads) - len(results) - len(dead),
        latencies=latencies,
        first_announced=min(times) if times else None,
        last_stored=max((r.stored_at for r in results), default=None),
        dead_reasons=sorted({d.reason[:160] for d in dead})[:5],
    )


def keyed_bodies(images: list[BenchImage], phase: str) -> list[tuple[str, bytes]]:
    """Each image under a key of its own for one phase: ``<phase>-run-<n>/<index>-<name>``."""
    return [(f"{phase}-{image.key(i)}", image.body) for i, image in enumerate(images)]
