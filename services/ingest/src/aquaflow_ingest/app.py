"""Composition root of the ingest service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp

from aquaflow_ingest.archive_rules import ArchiveLimits
from aquaflow_ingest.batch_requests import BatchAnnouncer
from aquaflow_ingest.checkpoint_file import JsonFileCheckpoints
from aquaflow_ingest.claims import ClaimStore, InMemoryClaims
from aquaflow_ingest.expansion import ArchiveExpander
from aquaflow_ingest.metrics import IngestMetrics
from aquaflow_ingest.object_store import ObjectStore, S3ObjectStore
from aquaflow_ingest.redis_claims import RedisClaims
from aquaflow_ingest.rejects import ObjectDeadLetters
from aquaflow_ingest.service import Ingestor, Transport, ingest_notification
from aquaflow_ingest.settings import IngestSettings
from aquaflow_ingest.sweep import Sweeper, SweepTarget
from aquaflow_ingest.webhook import PATH as WEBHOOK_PATH
from aquaflow_ingest.webhook import Handle, MinioWebhook
from aquaflow_shared.broker import create_broker, publish_event, topology_of
from aquaflow_shared.consumer import Consumers, Delivery, Dependency
from aquaflow_shared.contracts import ObjectReceived
from aquaflow_shared.errors import PermanentError
from aquaflow_shared.http import service_app
from aquaflow_shared.logging import configure_logging
from aquaflow_shared.metrics import Children, ConsumerMetrics
from aquaflow_shared.topology import OBJECT_RECEIVED

STAGE = "ingest"


@dataclass(frozen=True)
class IngestDeps:
    """Adapters handed in (tests, or an embedding process); the caller opens and closes them.

    Whatever is left None is built from settings and opened in the app's lifespan.
    """

    store: ObjectStore | None = None
    claims: ClaimStore | None = None


def create_claims(settings: IngestSettings) -> ClaimStore:
    if settings.dedupe_redis_url is None:
        return InMemoryClaims(
            ttl_seconds=settings.dedupe_ttl_seconds,
            lease_seconds=settings.dedupe_lease_seconds,
            max_entries=settings.dedupe_max_entries,
        )
    return RedisClaims(
        settings.dedupe_redis_url.get_secret_value(),
        key_prefix=settings.dedupe_key_prefix,
        ttl_seconds=settings.dedupe_ttl_seconds,
        lease_seconds=settings.dedupe_lease_seconds,
    )


def archive_limits(settings: IngestSettings) -> ArchiveLimits:
    return ArchiveLimits(
        max_members=settings.archive_max_members,
        max_total_bytes=settings.archive_max_total_bytes,
        max_ratio=settings.archive_max_ratio,
        max_depth=settings.archive_max_depth,
        max_member_bytes=settings.s3.max_object_bytes,
    )


def sweep_targets(settings: IngestSettings) -> list[SweepTarget]:
    polled = [SweepTarget(s.bucket, s.prefix, "s3-poller") for s in settings.poll_sources]
    min_age = timedelta(seconds=settings.reconcile_min_age_seconds)
    reconciled = [SweepTarget(s.bucket, s.prefix, "s3-reconcile", min_age) for s in settings.reconcile_sources]
    return polled + reconciled


def create_expander(settings: IngestSettings, store: ObjectStore) -> ArchiveExpander | None:
    if not settings.archive_expand:
        return None
    return ArchiveExpander(
        store=store,
        limits=archive_limits(settings),
        max_archive_bytes=settings.archive_max_bytes,
        output_prefix=settings.archive_output_prefix,
        workdir=settings.archive_workdir,
    )


def webhook_routes(
    settings: IngestSettings, handle: Handle, rejects: ObjectDeadLetters, metrics: IngestMetrics
) -> list[tuple[str, ASGIApp]]:
    """``POST /minio/events``, served only when a token is set: the endpoint never runs unauthenticated."""
    if settings.webhook_auth_token is None:
        return []

    async def dead_letter_body(body: bytes, error: PermanentError) -> None:
        await rejects.body(body, error, origin="minio.webhook")

    webhook = MinioWebhook(
        token=settings.webhook_auth_token,
        max_body_bytes=settings.webhook_max_body_bytes,
        handle=handle,
        dead_letter=dead_letter_body,
        metrics=metrics,
    )
    return [(WEBHOOK_PATH, webhook)]


def create_app(settings: IngestSettings, deps: IngestDeps | None = None) -> AsgiFastStream:
    deps = deps or IngestDeps()
    log = configure_logging(STAGE, settings.http.log_level)
    metrics = ConsumerMetrics()
    ingest_metrics = IngestMetrics(metrics.registry)
    broker = create_broker(settings.broker, metrics.registry, service=STAGE)
    topology = topology_of(settings.broker)
    claims = deps.claims or create_claims(settings)
    s3 = deps.store or S3ObjectStore(
        settings.s3,
        connect_timeout_seconds=settings.s3_connect_timeout_seconds,
        read_timeout_seconds=settings.s3_read_timeout_seconds,
        max_pool_connections=settings.s3_max_pool_connections,
    )
    rejects = ObjectDeadLetters(broker, topology, metrics, stage=STAGE)

    async def publish(event: ObjectReceived) -> None:
        await publish_event(broker, topology, event, OBJECT_RECEIVED)

    def count_expansion(outcome: str, written: int) -> None:
        ingest_metrics.archives.labels(outcome).inc()
        ingest_metrics.members_written.inc(written)

    expander = create_expander(settings, s3)
    ingestor = Ingestor(
        buckets=settings.buckets,
        max_object_bytes=settings.s3.max_object_bytes,
        claims=claims,
        publish=publish,
        expander=expander,
        max_archive_bytes=settings.archive_max_bytes,
        count_expansion=count_expansion,
    )

    events_seen = Children(ingest_metrics.events)

    def count(source: str, outcome: str) -> None:
        events_seen(source, outcome).inc()

    async def handle(body: bytes, transport: Transport) -> dict[str, Any]:
        return await ingest_notification(body, ingestor, count, transport=transport, store=s3)

    async def on_notification(delivery: Delivery) -> dict[str, Any]:
        return await handle(delivery.body, "amqp")

    dependencies = [Dependency("redis", claims.ping)]
    if isinstance(s3, S3ObjectStore):
        dependencies.append(Dependency("s3", s3.ping))
    consumer_of = Consumers(broker, topology, metrics, settings.broker)
    consumer = consumer_of(
        STAGE, topology.ingest_queue(), on_notification, exchange=topology.notifications, dependencies=dependencies
    )
    batches = BatchAnnouncer(settings, ingestor, claims, s3, publish).consumer(consumer_of, dependencies)

    async def on_webhook(body: bytes) -> dict[str, Any]:
        return await handle(body, "webhook")

    routes = webhook_routes(settings, on_webhook, rejects, ingest_metrics)
    sweeper = (
        Sweeper(
            targets=sweep_targets(settings),
            store=s3,
            checkpoints=JsonFileCheckpoints(settings.checkpoint_path),
            ingestor=ingestor,
            reject=rejects,
            metrics=ingest_metrics,
            interval_seconds=settings.sweep_interval_seconds,
            page_size=settings.sweep_page_size,
            max_age_seconds=settings.sweep_max_age_seconds,
        )
        if settings.sweeping
        else None
    )

    async def start() -> None:
        if settings.dedupe_redis_url is None:
            log.warning(
                "claims are held in this process only: replicas do not share them and a restart forgets them;"
                " set AQUAFLOW_INGEST_DEDUPE_REDIS_URL"
            )
        if deps.claims is None:
            await claims.open()
        if deps.store is None and isinstance(s3, S3ObjectStore):
            await s3.open()

    async def start_sweeping() -> None:
        if sweeper is not None:
            await sweeper.start()
            targets = [t.name for t in sweep_targets(settings)]
            log.info("sweep started", targets=targets, interval_seconds=settings.sweep_interval_seconds)

    async def stop_sweeping() -> None:
        if sweeper is not None:
            await sweeper.stop()

    async def close() -> None:
        if deps.claims is None:
            await claims.close()
        if deps.store is None and isinstance(s3, S3ObjectStore):
            await s3.close()

    return service_app(
        broker,
        metrics.registry,
        topology=topology,
        consumers=[consumer, batches],
        downstream=[topology.router_queue()],
        extra_checks=[("dedupe", claims.ping)],
        extra_routes=routes,
        on_startup=[start],
        after_startup=[start_sweeping],
        on_shutdown=[stop_sweeping],
        after_shutdown=[close],
    )
