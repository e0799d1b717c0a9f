"""Fixtures of the ingest tests: the real Redis, unique buckets in moto, ingest settings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from aquaflow_devstack.s3 import S3Server
from aquaflow_shared.settings import BrokerSettings, S3Settings
from tests.integration.ingest.support import REDIS_URL, IngestConfig


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own in the real Redis; its keys are deleted afterwards."""
    prefix = f"aqf-test:{uuid.uuid4().hex[:10]}:"
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except OSError as error:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({error}); start redis-server or set AQUAFLOW_TEST_REDIS_URL"
        )
    yield prefix
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def s3(s3_server: S3Server) -> Any:
    return s3_server.client()


@pytest.fixture
def new_bucket(s3: Any) -> Callable[[str], str]:
    """Creates a bucket with a unique name in moto (the server is shared by the session)."""

    def create(stem: str) -> str:
        name = f"{stem}-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=name)
        return name

    return create


@pytest.fixture
def ingest_config(broker_settings: BrokerSettings, s3_settings: S3Settings) -> IngestConfig:
    return IngestConfig(broker_settings, s3_settings)
