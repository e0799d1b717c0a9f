"""Fixtures shared by every suite: the real broker (a unique prefix per test), S3 and MongoDB.

Each server is the most genuine one this machine offers (see aquaflow_devstack's
rabbitmq, s3 and mongo modules); the test-run header says which.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from aquaflow_devstack.mongo import MongoServer, start_mongo, which_server
from aquaflow_devstack.rabbitmq import which_rabbitmq
from aquaflow_devstack.s3 import S3Server, start_s3, which_s3
from aquaflow_shared.settings import BrokerSettings, S3Settings
from tests.support.rabbit import RabbitAdmin, delete_issued_topologies, find_test_broker, unique_prefix


@pytest.fixture(scope="session")
def rabbit_url() -> Iterator[str]:
    """The session's RabbitMQ; tests isolate themselves by prefix, not by broker."""
    broker = find_test_broker()
    _started_servers.append(f"RabbitMQ: {broker.kind}")
    yield broker.url
    asyncio.run(delete_issued_topologies(broker.url))
    broker.stop()


@pytest.fixture
def broker_settings(rabbit_url: str) -> BrokerSettings:
    return BrokerSettings(
        url=SecretStr(rabbit_url), prefix=unique_prefix(), max_attempts=3, retry_backoff_seconds=0.05, delivery_limit=6
    )


@pytest.fixture
async def rabbit(broker_settings: BrokerSettings, rabbit_url: str) -> AsyncIterator[RabbitAdmin]:
    async with RabbitAdmin(rabbit_url, broker_settings.prefix) as admin:
        yield admin


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3 server per test session (MinIO, moto or the one named); tests use their own buckets."""
    server = start_s3()
    _started_servers.append(f"S3: {server.kind}")
    yield server
    server.stop()


@pytest.fixture
def s3_settings(s3_server: S3Server) -> S3Settings:
    # The server's own keys: a server named by the environment has its own.
    return S3Settings(
        endpoint_url=s3_server.endpoint_url,
        access_key_id=SecretStr(s3_server.access_key),
        secret_access_key=SecretStr(s3_server.secret_key),
        region=s3_server.region,
    )


# Read by the end-to-end tests, which pass it to the native stack (None: the stack starts nothing).
MONGODB_URL = os.environ.get("MONGODB_URL")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"RabbitMQ: {which_rabbitmq()}", f"S3: {which_s3()}", f"MongoDB: {which_server()}"]


_started_mongo: list[MongoServer] = []
# What the session's broker and S3 fixtures actually started or found, for the summary.
_started_servers: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for server in _started_servers:
        terminalreporter.write_line(f"tests ran against {server}")
    for mongo in _started_mongo:
        terminalreporter.write_line(f"MongoDB tests ran against: {mongo.kind}")


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    """A real MongoDB server for the session (see aquaflow_devstack.mongo); tests use their own database."""
    server = start_mongo(None)
    _started_mongo.append(server)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real Triton binary from the nvidia-pytriton wheel, serving the project's model_repository/."""
    from pathlib import Path

    from aquaflow_devstack.triton import TritonUnavailable, start_triton

    repository = Path(__file__).resolve().parents[1] / "model_repository"
    try:
        server = start_triton(repository, tmp_path_factory.mktemp("triton"))
    except TritonUnavailable as missing:
        pytest.skip(f"Triton binary not installed: {missing}")
    yield server
    server.stop()
