"""Real servers for the EcoTaxa push: SecantusDB (MongoDB wire protocol), moto S3, the EcoTaxa stand-in."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from secantus.server import SecantusDBServer

from aquaflow_devstack.ecotaxa import EcoTaxaServer, start_ecotaxa

USERS = {"lov-bot": "lov-password", "obs-bot": "obs-password"}
PROJECT = 1
OTHER_PROJECT = 2


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    with SecantusDBServer(storage_path=":memory:", port=0) as server:
        yield server.uri


@pytest.fixture
async def mongo_db(mongodb_uri: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A database of its own for each test."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True, timeoutMS=10_000)
    name = f"ecotaxa_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
        await client.drop_database(name)
    finally:
        await client.close()


@pytest.fixture
def ecotaxa() -> Iterator[EcoTaxaServer]:
    """A fresh stand-in per test, so each test counts its own imported objects."""
    server = start_ecotaxa(users=USERS, projects={PROJECT: ["lov-bot"], OTHER_PROJECT: ["obs-bot"]})
    yield server
    server.stop()
