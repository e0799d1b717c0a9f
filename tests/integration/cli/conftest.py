"""Fixtures of the command line's integration tests: a database and buckets of the test's own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from aquaflow_devstack.s3 import S3Server


@pytest.fixture
async def database_name(mongodb_url: str) -> AsyncIterator[str]:
    name = f"aqf-cli-{uuid.uuid4().hex[:10]}"
    yield name
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_url)
    await client.drop_database(name)
    await client.close()


@pytest.fixture
def s3(s3_server: S3Server) -> Any:
    return s3_server.client()


@pytest.fixture
def new_bucket(s3: Any) -> Callable[[str], str]:
    """A bucket with a unique name on the session's S3 server."""

    def create(stem: str) -> str:
        name = f"{stem}-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=name)
        return name

    return create
