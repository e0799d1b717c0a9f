"""Reading the uploaded object from S3 (boto3 in a worker thread), errors translated."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from aquaflow_inference.errors import ObjectMissing, ObjectTooLarge, StorageUnavailable
from aquaflow_shared.contracts import ObjectRef
from aquaflow_shared.settings import S3Settings

MISSING = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
CHANGED = {"PreconditionFailed", "412"}


class ObjectReader(Protocol):
    async def read(self, obj: ObjectRef) -> bytes: ...


class S3ObjectReader:
    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._client: Any = None

    def open(self) -> None:
        self._client = boto3.client(
            "s3",
            endpoint_url=self._settings.endpoint_url,
            region_name=self._settings.region,
            aws_access_key_id=self._settings.access_key_id.get_secret_value(),
            aws_secret_access_key=self._settings.secret_access_key.get_secret_value(),
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=64),
        )

    async def read(self, obj: ObjectRef) -> bytes:
        limit = self._settings.max_object_bytes
        if obj.size is not None and obj.size > limit:
            raise ObjectTooLarge(f"object is {obj.size} bytes, over the limit of {limit}")
        return await asyncio.to_thread(self._read_blocking, obj, limit)

    def _read_blocking(self, obj: ObjectRef, limit: int) -> bytes:
        if self._client is None:
            raise StorageUnavailable("S3 client is not open")
        try:
            # IfMatch: read exactly the version the event announced; a newer one has its own event.
            response = self._client.get_object(Bucket=obj.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')
            if int(response.get("ContentLength", 0)) > limit:
                response["Body"].close()
                raise ObjectTooLarge(f"object is {response['ContentLength']} bytes, over the limit of {limit}")
            data: bytes = response["Body"].read(limit + 1)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in MISSING:
                raise ObjectMissing(f"s3://{obj.bucket}/{obj.key} does not exist (any more)") from error
            if code in CHANGED:
                raise ObjectMissing(f"s3://{obj.bucket}/{obj.key} changed since the event (ETag {obj.etag})") from error
            raise StorageUnavailable(f"S3 refused the read: {code or error}") from error
        except BotoCoreError as error:
            raise StorageUnavailable(f"S3 unreachable: {error}") from error
        if len(data) > limit:
            raise ObjectTooLarge(f"object is over the limit of {limit} bytes")
        return data
