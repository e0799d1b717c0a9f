"""The S3 API ingest needs, behind a small Protocol, and its aiobotocore adapter.

One client per app, opened in the lifespan (never at import), with pooled
connections and timeouts from settings. Vendor errors are translated here: an
object gone or replaced is ``ObjectMissing`` (permanent, ``object_missing``), an
unreachable or failing server ``DependencyUnavailable("s3", …)`` (retried).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from aquaflow_ingest.errors import ObjectMissing, ObjectTooLarge
from aquaflow_shared.errors import DependencyUnavailable
from aquaflow_shared.s3 import S3ClientLimits, S3Connection
from aquaflow_shared.settings import S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

# What S3 answers when the version asked for is deleted, replaced (If-Match) or never existed.
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchVersion", "NoSuchBucket", "412", "PreconditionFailed"}
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ListedObject:
    """One entry of a ListObjectsV2 page."""

    key: str
    etag: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class ListPage:
    objects: tuple[ListedObject, ...]
    truncated: bool


@dataclass(frozen=True)
class ObjectHead:
    etag: str
    size: int
    content_type: str | None
    version_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredObject:
    etag: str
    version_id: str | None


class ObjectStore(Protocol):
    async def list_page(self, bucket: str, prefix: str, *, start_after: str, max_keys: int) -> ListPage:
        """Up to ``max_keys`` objects under ``prefix`` whose keys sort after ``start_after``."""
        ...

    async def head(
        self, bucket: str, key: str, *, etag: str | None = None, version_id: str | None = None
    ) -> ObjectHead:
        """The object's metadata; ``ObjectMissing`` if that version (``etag``) is not there."""
        ...

    async def download(
        self, bucket: str, key: str, dest: Path, *, etag: str, version_id: str | None, max_bytes: int
    ) -> int:
        """Stream one object version into ``dest``; its size."""
        ...

    async def put_file(
        self, bucket: str, key: str, source: Path, *, content_type: str, metadata: dict[str, str]
    ) -> StoredObject: ...


class S3ObjectStore:
    def __init__(
        self,
        settings: S3Settings,
        *,
        connect_timeout_seconds: float = 5.0,
        read_timeout_seconds: float = 30.0,
        max_pool_connections: int = 20,
    ) -> None:
        limits = S3ClientLimits(connect_timeout_seconds, read_timeout_seconds, max_pool_connections)
        self._connection = S3Connection(settings, limits)

    async def open(self) -> None:
        await self._connection.open()

    async def close(self) -> None:
        await self._connection.close()

    async def ping(self) -> bool:
        """Whether S3 answers: the probe while ingest is paused on an S3 outage."""
        return await self._connection.answers()

    async def list_page(self, bucket: str, prefix: str, *, start_after: str, max_keys: int) -> ListPage:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if start_after:
            kwargs["StartAfter"] = start_after
        async with _translated(f"LIST s3://{bucket}/{prefix}"):
            page = await self._s3().list_objects_v2(**kwargs)
        objects = tuple(
            ListedObject(
                key=entry["Key"],
                etag=entry["ETag"].strip('"'),
                size=int(entry["Size"]),
                last_modified=entry["LastModified"].astimezone(UTC),
            )
            for entry in page.get("Contents", [])
        )
        return ListPage(objects=objects, truncated=bool(page.get("IsTruncated")))

    async def head(
        self, bucket: str, key: str, *, etag: str | None = None, version_id: str | None = None
    ) -> ObjectHead:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if etag:
            kwargs["IfMatch"] = f'"{etag}"'
        if version_id:
            kwargs["VersionId"] = version_id
        async with _translated(f"HEAD s3://{bucket}/{key}"):
            reply = await self._s3().head_object(**kwargs)
        return ObjectHead(
            etag=str(reply["ETag"]).strip('"'),
            size=int(reply["ContentLength"]),
            content_type=reply.get("ContentType") or None,
            version_id=reply.get("VersionId") or None,
            # botocore already strips the x-amz-meta- prefix; names are case-insensitive.
            metadata={k.lower(): v for k, v in reply.get("Metadata", {}).items()},
        )

    async def download(
        self, bucket: str, key: str, dest: Path, *, etag: str, version_id: str | None, max_bytes: int
    ) -> int:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "IfMatch": f'"{etag}"'}
        if version_id:
            kwargs["VersionId"] = version_id
        where = f"GET s3://{bucket}/{key}"
        written = 0
        async with _translated(where):
            reply = await self._s3().get_object(**kwargs)
            async with reply["Body"] as stream:
                # Local disk writes of one chunk are short; the network read is what awaits.
                with dest.open("wb") as out:
                    while chunk := await stream.read(_CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise ObjectTooLarge(f"s3://{bucket}/{key} is over the limit of {max_bytes} bytes")
                        out.write(chunk)
        return written

    async def put_file(
        self, bucket: str, key: str, source: Path, *, content_type: str, metadata: dict[str, str]
    ) -> StoredObject:
        async with _translated(f"PUT s3://{bucket}/{key}"):
            with source.open("rb") as body:
                reply = await self._s3().put_object(
                    Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata
                )
        return StoredObject(etag=str(reply["ETag"]).strip('"'), version_id=reply.get("VersionId") or None)

    def _s3(self) -> S3Client:
        return self._connection.client


@contextlib.asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            raise ObjectMissing(f"{what}: the object version is gone ({code})") from error
        raise DependencyUnavailable("s3", f"{what} failed: {code or error}") from error
    except (BotoCoreError, aiohttp.ClientError, TimeoutError, OSError) as error:
        raise DependencyUnavailable("s3", f"{what} failed: {type(error).__name__}: {error}") from error
