"""Reading region images from the output bucket, behind a small Protocol."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Protocol

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from aquaflow_results.ecotaxa.errors import MissingImage
from aquaflow_shared.errors import DependencyUnavailable
from aquaflow_shared.settings import S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class CropReader(Protocol):
    async def read(self, bucket: str, key: str) -> bytes:
        """The object's bytes; ``MissingImage`` if it is not there, ``DependencyUnavailable`` if S3 is down."""
        ...


class S3CropReader:
    """aiobotocore, opened and closed explicitly; refuses objects larger than the configured limit."""

    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._stack: AsyncExitStack | None = None
        self._client: S3Client | None = None

    async def open(self) -> None:
        if self._client is not None:
            return
        s = self._settings
        stack = AsyncExitStack()
        self._client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=s.endpoint_url,
                region_name=s.region,
                aws_access_key_id=s.access_key_id.get_secret_value(),
                aws_secret_access_key=s.secret_access_key.get_secret_value(),
                config=AioConfig(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}),
            )
        )
        self._stack = stack

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self._client = None

    async def read(self, bucket: str, key: str) -> bytes:
        if self._client is None:
            await self.open()
        assert self._client is not None
        try:
            response = await self._client.get_object(Bucket=bucket, Key=key)
            size = int(response.get("ContentLength") or 0)
            if size > self._settings.max_object_bytes:
                response["Body"].close()
                raise MissingImage(f"s3://{bucket}/{key} is {size} bytes, over the limit")
            async with response["Body"] as body:
                return await body.read()
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise MissingImage(f"s3://{bucket}/{key} not found") from error
            raise DependencyUnavailable("s3", f"GET s3://{bucket}/{key}: {code or error}") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("s3", f"GET s3://{bucket}/{key}: {error}") from error
