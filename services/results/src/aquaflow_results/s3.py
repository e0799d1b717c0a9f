"""Reading manifests and crops from S3 through aiobotocore: one client, opened at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from aquaflow_results.ports import StoredObject
from aquaflow_shared.errors import DependencyUnavailable, PermanentError
from aquaflow_shared.s3 import S3ClientLimits, S3Connection
from aquaflow_shared.settings import S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
CHUNK_BYTES = 64 * 1024


class S3ObjectReader:
    def __init__(self, settings: S3Settings) -> None:
        self._connection = S3Connection(settings, S3ClientLimits(attempts=2))

    async def open(self) -> None:
        await self._connection.open()

    async def close(self) -> None:
        await self._connection.close()

    @property
    def _s3(self) -> S3Client:
        return self._connection.client

    async def ping(self) -> bool:
        return await self._connection.answers()

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
