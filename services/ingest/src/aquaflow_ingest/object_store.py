"""The S3 API the poller needs, behind a small Protocol: list a prefix, HEAD an object."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from aquaflow_ingest.checkpoint import ListedObject
from aquaflow_shared.errors import TransientError
from aquaflow_shared.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# HEAD answers these when the listed version is gone or was replaced since the listing.
_GONE_OR_REPLACED = {"404", "NoSuchKey", "NotFound", "412", "PreconditionFailed"}


class ObjectStoreUnavailable(TransientError):
    pass


@dataclass(frozen=True)
class ObjectHead:
    etag: str
    size: int
    content_type: str | None
    version_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    def list_objects(self, bucket: str, prefix: str) -> AsyncIterator[ListedObject]:
        """Every object under ``prefix``, page by page."""
        ...

    async def head(self, bucket: str, key: str, etag: str) -> ObjectHead | None:
        """The object's metadata if ``etag`` is still its current version, else None."""
        ...


class S3ObjectStore:
    """boto3, each call in a worker thread so the event loop keeps consuming."""

    def __init__(self, settings: S3Settings, *, page_size: int = 1000) -> None:
        self._settings = settings
        self._page_size = page_size
        self._client: S3Client | None = None

    def open(self) -> None:
        s = self._settings
        self._client = boto3.client(
            "s3",
            endpoint_url=s.endpoint_url,
            region_name=s.region,
            aws_access_key_id=s.access_key_id.get_secret_value(),
            aws_secret_access_key=s.secret_access_key.get_secret_value(),
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}),
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def list_objects(self, bucket: str, prefix: str) -> AsyncIterator[ListedObject]:
        token: str | None = None
        while True:
            page = await self._call(self._list_page, bucket, prefix, token)
            for entry in page.get("Contents", []):
                yield ListedObject(
                    key=entry["Key"],
                    etag=entry["ETag"].strip('"'),
                    size=int(entry["Size"]),
                    last_modified=entry["LastModified"].astimezone(UTC),
                )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    async def head(self, bucket: str, key: str, etag: str) -> ObjectHead | None:
        try:
            reply = await self._call(self._head, bucket, key, etag)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in _GONE_OR_REPLACED:
                return None
            raise ObjectStoreUnavailable(f"HEAD s3://{bucket}/{key} failed: {error}") from error
        current = str(reply["ETag"]).strip('"')
        if current != etag:
            return None
        return ObjectHead(
            etag=current,
            size=int(reply["ContentLength"]),
            content_type=reply.get("ContentType") or None,
            version_id=reply.get("VersionId") or None,
            # boto3 already strips the x-amz-meta- prefix and lower-cases the names.
            metadata={k.lower(): v for k, v in reply.get("Metadata", {}).items()},
        )

    def _list_page(self, bucket: str, prefix: str, token: str | None) -> Any:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": self._page_size}
        if token:
            kwargs["ContinuationToken"] = token
        return self._s3().list_objects_v2(**kwargs)

    def _head(self, bucket: str, key: str, etag: str) -> Any:
        return self._s3().head_object(Bucket=bucket, Key=key, IfMatch=f'"{etag}"')

    def _s3(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("S3ObjectStore used before open()")
        return self._client

    @staticmethod
    async def _call(function: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(function, *args)
        except ClientError:
            raise
        except BotoCoreError as error:
            raise ObjectStoreUnavailable(f"S3 unreachable: {error}") from error
