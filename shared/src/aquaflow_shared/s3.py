"""One aiobotocore S3 client per adapter, opened in the app's lifespan, never at import.

Every service that talks to S3 holds an ``S3Connection``: pooled connections, connect and
read timeouts, the client's own standard retries, and a probe saying whether S3 answers
(what a consumer paused on an S3 outage polls).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from aquaflow_shared.errors import DependencyUnavailable
from aquaflow_shared.settings import S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


@dataclass(frozen=True)
class S3ClientLimits:
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_connections: int = 20
    # The client's own attempts before an error reaches the adapter.
    attempts: int = 3


class S3Connection:
    def __init__(self, settings: S3Settings, limits: S3ClientLimits | None = None) -> None:
        self._settings = settings
        self._limits = limits or S3ClientLimits()
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: S3Client | None = None

    async def open(self) -> None:
        if self._client is not None:
            return
        s, limits = self._settings, self._limits
        config = AioConfig(
            connect_timeout=limits.connect_timeout_seconds,
            read_timeout=limits.read_timeout_seconds,
            max_pool_connections=limits.max_connections,
            retries={"max_attempts": limits.attempts, "mode": "standard"},
        )
        stack = contextlib.AsyncExitStack()
        self._client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=s.endpoint_url,
                region_name=s.region,
                aws_access_key_id=s.access_key_id.get_secret_value(),
                aws_secret_access_key=s.secret_access_key.get_secret_value(),
                config=config,
            )
        )
        self._stack = stack

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack, self._client = None, None

    @property
    def is_open(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise DependencyUnavailable("s3", "the S3 client is not open")
        return self._client

    async def answers(self) -> bool:
        """Whether S3 answers: any reply short of a server error means it is there."""
        if self._client is None:
            return False
        try:
            await self._client.list_buckets()
        except ClientError as error:
            return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)) < 500
        except (BotoCoreError, OSError):
            return False
        return True
