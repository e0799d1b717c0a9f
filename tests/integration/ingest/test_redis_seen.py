"""Seen objects in the real Redis: shared between replicas, expiring, failing loudly."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from aquaflow_ingest.errors import DedupeUnavailable
from aquaflow_ingest.redis_seen import RedisSeenObjects
from tests.integration.ingest.support import REDIS_URL

pytestmark = pytest.mark.integration


async def test_replicas_share_what_was_seen_and_entries_expire(redis_prefix: str) -> None:
    one = RedisSeenObjects(REDIS_URL, key_prefix=redis_prefix, ttl_seconds=120)
    two = RedisSeenObjects(REDIS_URL, key_prefix=redis_prefix, ttl_seconds=120)
    await one.open()
    await two.open()
    try:
        assert await one.ping()
        assert not await two.contains("object-1")
        assert await one.add("object-1")
        assert await two.contains("object-1")
        assert not await two.add("object-1")
        raw = Redis.from_url(REDIS_URL)
        assert 0 < await raw.ttl(f"{redis_prefix}object-1") <= 120
        await raw.aclose()
    finally:
        await one.close()
        await two.close()


async def test_an_unreachable_redis_is_a_transient_failure(redis_prefix: str) -> None:
    # Port 1 is privileged and never runs Redis here: the connection is refused at once.
    seen = RedisSeenObjects("redis://127.0.0.1:1/0", key_prefix=redis_prefix, ttl_seconds=60, timeout_seconds=1)
    await seen.open()
    try:
        assert not await seen.ping()
        with pytest.raises(DedupeUnavailable, match="Redis cannot be read"):
            await seen.contains("object-1")
        with pytest.raises(DedupeUnavailable, match="Redis cannot be written"):
            await seen.add("object-1")
    finally:
        await seen.close()
