"""Reading region images from the output bucket, behind a small Protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from aquaflow_results.ecotaxa.errors import MissingImage
from aquaflow_shared.errors import DependencyUnavailable
from aquaflow_shared.s3 import S3Connection
from aquaflow_shared.settings import S3Settings

if TYPE_CHECKING:
    pass

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class CropReader(Protocol):
    async def read(self, bucket: str, key: str) -> bytes:
        """The object's bytes; ``MissingImage`` if it is not there, ``DependencyUnavailable`` if S3 is down."""
        ...


class S3CropReader:
    """aiobotocore, opened and closed explicitly; refuses objects larger than the configured limit."""

    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._connection = S3Connection(settings)

    async def open(self) -> None:
        await self._connection.open()

    async def close(self) -> None:
        await self._connection.close()

    async def read(self, bucket: str, key: str) -> bytes:
        await self.open()
        try:
            response = await self._connection.client.get_object(Bucket=bucket, Key=key)
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
