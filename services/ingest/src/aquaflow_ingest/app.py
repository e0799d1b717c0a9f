"""Composition root of the ingest service."""

from __future__ import annotations

from typing import Any

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.rabbit.annotations import RabbitMessage

from aquaflow_ingest.checkpoint_file import JsonFileCheckpoints
from aquaflow_ingest.dedupe import InMemorySeenObjects, SeenObjects
from aquaflow_ingest.metrics import IngestMetrics
from aquaflow_ingest.object_store import S3ObjectStore
from aquaflow_ingest.poller import Poller
from aquaflow_ingest.redis_seen import RedisSeenObjects
from aquaflow_ingest.rejects import ObjectDeadLetters
from aquaflow_ingest.service import Ingestor, ingest_notification
from aquaflow_ingest.settings import IngestSettings
from aquaflow_shared.broker import create_broker, declare_dead_letters, publish_event, raw_body, topology_of
from aquaflow_shared.contracts import ObjectReceived
from aquaflow_shared.delivery import Settler
from aquaflow_shared.http import service_app
from aquaflow_shared.logging import configure_logging
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import OBJECT_RECEIVED

STAGE = "ingest"


def create_seen_objects(settings: IngestSettings) -> SeenObjects:
    if settings.dedupe_redis_url is None:
        return InMemorySeenObjects(ttl_seconds=settings.dedupe_ttl_seconds, max_entries=settings.dedupe_max_entries)
    return RedisSeenObjects(
        settings.dedupe_redis_url.get_secret_value(),
        key_prefix=settings.dedupe_key_prefix,
        ttl_seconds=settings.dedupe_ttl_seconds,
    )


def create_app(settings: IngestSettings) -> AsgiFastStream:
    log = configure_logging(STAGE, settings.http.log_level)
    metrics = ConsumerMetrics()
    ingest_metrics = IngestMetrics(metrics.registry)
    broker = create_broker(settings.broker, metrics.registry, service=STAGE)
    topology = topology_of(settings.broker)
    settler = Settler.from_settings(STAGE, broker, topology, metrics, settings.broker)
    seen = create_seen_objects(settings)

    async def publish(event: ObjectReceived) -> None:
        await publish_event(broker, topology, event, OBJECT_RECEIVED)

    ingestor = Ingestor(
        buckets=settings.buckets, max_object_bytes=settings.s3.max_object_bytes, seen=seen, publish=publish
    )

    def count(source: str, outcome: str) -> None:
        ingest_metrics.events.labels(source, outcome).inc()

    @broker.subscriber(topology.ingest_queue(), topology.notifications, ack_policy=AckPolicy.MANUAL, decoder=raw_body)
    async def on_notification(body: bytes, message: RabbitMessage) -> None:
        async def work() -> dict[str, Any]:
            return await ingest_notification(body, ingestor, count)

        await settler.settle(message, work)

    s3 = S3ObjectStore(settings.s3) if settings.polling else None
    poller = (
        Poller(
            sources=settings.poll_sources,
            store=s3,
            checkpoints=JsonFileCheckpoints(settings.checkpoint_path),
            ingestor=ingestor,
            reject=ObjectDeadLetters(broker, topology, metrics, stage=STAGE),
            metrics=ingest_metrics,
            interval_seconds=settings.poll_interval_seconds,
            grace_seconds=settings.poll_grace_seconds,
        )
        if s3 is not None
        else None
    )

    async def start() -> None:
        if settings.dedupe_redis_url is None:
            log.warning("duplicates are detected in this process only; set AQUAFLOW_INGEST_DEDUPE_REDIS_URL to share")
        await seen.open()
        if s3 is not None:
            s3.open()
        await declare_dead_letters(broker, topology)

    async def start_polling() -> None:
        if poller is not None:
            await poller.start()
            sources = [s.name for s in settings.poll_sources]
            log.info("poller started", sources=sources, interval_seconds=settings.poll_interval_seconds)

    async def stop_polling() -> None:
        if poller is not None:
            await poller.stop()

    async def close() -> None:
        await seen.close()
        if s3 is not None:
            s3.close()

    return service_app(
        broker,
        metrics.registry,
        extra_checks=[("dedupe", seen.ping)],
        on_startup=[start],
        after_startup=[start_polling],
        on_shutdown=[stop_polling],
        after_shutdown=[close],
    )
