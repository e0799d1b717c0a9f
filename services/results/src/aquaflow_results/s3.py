"""Reading manifests and crops from S3 through aiobotocore: one client, opened at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from aquaflow_results.ports import StoredObject
from aquaflow_shared.errors import DependencyUnavailable, PermanentError
from aquaflow_shared.settings import S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
CHUNK_BYTES = 64 * 1024


class S3ObjectReader:
    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._stack: AsyncExitStack | None = None
        self._client: S3Client | None = None

    async def open(self) -> None:
        self._stack = AsyncExitStack()
        self._client = await self._stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=self._settings.endpoint_url,
                region_name=self._settings.region,
                aws_access_key_id=self._settings.access_key_id.get_secret_value(),
                aws_secret_access_key=self._settings.secret_access_key.get_secret_value(),
                config=AioConfig(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
            )
        )

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = self._client = None

    @property
    def _s3(self) -> S3Client:
        if self._client is None:
            raise DependencyUnavailable("s3", "the S3 client is not open")
        return self._client

    async def ping(self) -> bool:
        try:
            await self._s3.list_buckets()
        except ClientError as error:
            # An answer, even a refusal, means S3 is reachable; only a server error does not.
            return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)) < 500
        except (BotoCoreError, DependencyUnavailable):
            return False
        return True

    async def _get(self, bucket: str, key: str) -> Any | None:
        try:
            return await self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in MISSING_CODES:
                return None
            raise DependencyUnavailable("s3", f"reading s3://{bucket}/{key}: {error}") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("s3", f"reading s3://{bucket}/{key}: {error}") from error

    async def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        reply = await self._get(bucket, key)
        if reply is None:
            raise PermanentError(f"s3://{bucket}/{key} does not exist", code="object_missing")
        async with reply["Body"] as body:
            if int(reply.get("ContentLength") or 0) > max_bytes:
                raise PermanentError(
                    f"s3://{bucket}/{key} is {reply['ContentLength']} bytes; at most {max_bytes} are read",
                    code="too_large",
                )
            try:
                data: bytes = await body.read()
            except BotoCoreError as error:
                raise DependencyUnavailable("s3", f"reading s3://{bucket}/{key}: {error}") from error
        return data

    async def stream(self, bucket: str, key: str) -> StoredObject | None:
        reply = await self._get(bucket, key)
        if reply is None:
            return None

        async def chunks() -> AsyncIterator[bytes]:
            async with reply["Body"] as body:
                async for chunk in body.iter_chunks(CHUNK_BYTES):
                    yield chunk

        return StoredObject(
            content_type=str(reply.get("ContentType") or "application/octet-stream"),
            length=reply.get("ContentLength"),
            chunks=chunks(),
        )
