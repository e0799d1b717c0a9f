"""Claims in the real Redis: two replicas receiving one notification together announce it once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from aquaflow_devstack.minio_events import minio_event_for_put
from aquaflow_ingest.app import create_app
from aquaflow_ingest.errors import DedupeUnavailable
from aquaflow_ingest.redis_claims import RedisClaims
from aquaflow_shared.topology import OBJECT_RECEIVED, S3_NOTIFICATION
from tests.integration.ingest.support import REDIS_URL, IngestConfig, metric, real_images
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.integration


async def test_of_concurrent_claims_from_two_replicas_exactly_one_wins(redis_prefix: str) -> None:
    replicas = [RedisClaims(REDIS_URL, key_prefix=redis_prefix, ttl_seconds=120, lease_seconds=30) for _ in range(2)]
    for replica in replicas:
        await replica.open()
    try:
        won = await asyncio.gather(*(replicas[i % 2].claim("object-1") for i in range(20)))
        assert won.count(True) == 1
        assert not await replicas[1].is_kept("object-1")
        await replicas[1].release("object-1")  # whoever releases, only a lease goes
        assert await replicas[1].claim("object-1")
        await replicas[1].keep("object-1")
        await replicas[0].release("object-1")
        assert await replicas[0].is_kept("object-1")
    finally:
        for replica in replicas:
            await replica.close()


async def test_an_unreachable_redis_is_a_transient_failure(redis_prefix: str) -> None:
    claims = RedisClaims(
        "redis://127.0.0.1:1/0", key_prefix=redis_prefix, ttl_seconds=60, lease_seconds=5, timeout_seconds=1
    )
    await claims.open()
    try:
        assert not await claims.ping()
        with pytest.raises(DedupeUnavailable):
            await claims.claim("object-1")
    finally:
        await claims.close()


async def test_two_replicas_given_the_same_notifications_at_once_announce_each_object_once(
    ingest_config: IngestConfig, rabbit: RabbitAdmin, s3: Any, new_bucket: Callable[[str], str], redis_prefix: str
) -> None:
    topology = ingest_config.topology
    bucket = new_bucket("plankton-flowcam")
    images = real_images("import_test/m106_mn01_n1_sml", 4)
    events = []
    for image in images:
        s3.put_object(Bucket=bucket, Key=image.name, Body=image.read_bytes())
        events.append(json.dumps(minio_event_for_put(s3, bucket, image.name)).encode())
    settings = ingest_config.settings(
        buckets={bucket: "lov"}, dedupe_redis_url=SecretStr(REDIS_URL), dedupe_key_prefix=redis_prefix
    )
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)
    one, two = create_app(settings), create_app(settings)
    async with one, two:
        # Each notification three times, consumed by both replicas from the one queue.
        for body in events * 3:
            await rabbit.publish(topology.notifications.name, S3_NOTIFICATION, body)

        async def settled() -> float:
            total = 0.0
            for app in (one, two):
                for outcome in ("published", "duplicate"):
                    total += await metric(app, "aquaflow_ingest_events_total", source="minio-amqp", outcome=outcome)
            return total

        await eventually(settled, until=lambda n: n >= len(events) * 3, timeout=60)
        dead = await rabbit.queue_messages(topology.dead_letter_queue.name)
    bodies = await announced.bodies()
    assert sorted(b["object"]["key"] for b in bodies) == sorted(p.name for p in images)
    assert dead == []
