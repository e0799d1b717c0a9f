"""The results store on the session's real MongoDB server, a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from aquaflow_results.mongo import MongoStore


@pytest.fixture
def database_name() -> str:
    return f"aqf-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(mongodb_url: str, database_name: str) -> AsyncIterator[MongoStore]:
    opened = MongoStore(mongodb_url, database_name, timeout_seconds=10)
    await opened.open()
    yield opened
    await opened.close()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_url)
    await client.drop_database(database_name)
    await client.close()
