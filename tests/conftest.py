"""Fixtures shared by every suite: the real broker, isolated by a unique prefix per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from aquaflow_devstack.mongo import MongoServer, start_mongo, which_server
from aquaflow_devstack.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server, start_s3
from aquaflow_shared.settings import BrokerSettings, S3Settings
from tests.support.rabbit import RabbitAdmin, ensure_rabbitmq, unique_prefix


@pytest.fixture(scope="session")
def rabbit_url() -> str:
    return ensure_rabbitmq()


@pytest.fixture
def broker_settings(rabbit_url: str) -> BrokerSettings:
    return BrokerSettings(
        url=rabbit_url, prefix=unique_prefix(), max_attempts=3, retry_backoff_seconds=0.05, delivery_limit=6
    )


@pytest.fixture
async def rabbit(broker_settings: BrokerSettings, rabbit_url: str) -> AsyncIterator[RabbitAdmin]:
    async with RabbitAdmin(rabbit_url, broker_settings.prefix) as admin:
        yield admin


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server, one per test session; tests use their own buckets."""
    server = start_s3()
    yield server
    server.stop()


@pytest.fixture
def s3_settings(s3_server: S3Server) -> S3Settings:
    return S3Settings(
        endpoint_url=s3_server.endpoint_url, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY, region=REGION
    )


# Read by the end-to-end tests, which pass it to the native stack (None: the stack starts nothing).
MONGODB_URL = os.environ.get("MONGODB_URL")


def pytest_report_header(config: pytest.Config) -> str:
    return f"MongoDB: {which_server()}"


_started_mongo: list[MongoServer] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for server in _started_mongo:
        terminalreporter.write_line(f"MongoDB tests ran against: {server.kind}")


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
