"""S3 as the command line uses it: uploads and listings, through the project's one aiobotocore helper."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from botocore.exceptions import BotoCoreError, ClientError

from aquaflow_cli.errors import CliError, Exit
from aquaflow_shared.s3 import S3ClientLimits, S3Connection
from aquaflow_shared.settings import S3Settings

# An operator's uploads are few at a time and may be large: a longer read timeout than the services'.
LIMITS = S3ClientLimits(connect_timeout_seconds=10.0, read_timeout_seconds=120.0, max_connections=8)


@dataclass(frozen=True)
class StoredVersion:
    etag: str
    version_id: str | None


@dataclass(frozen=True)
class ListedKey:
    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class ListingPage:
    objects: list[ListedKey]
    truncated: bool


class ObjectStorage:
    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._connection = S3Connection(settings, LIMITS)

    async def __aenter__(self) -> ObjectStorage:
        await self._connection.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._connection.close()

    def _failed(self, action: str, error: Exception) -> CliError:
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "?")
            return CliError(f"S3 refused {action}: {code}: {error}", Exit.FAILED)
        where = self._settings.endpoint_url or "AWS S3"
        return CliError(f"cannot reach S3 at {where} ({action}): {error}")

    async def check_bucket(self, bucket: str) -> None:
        try:
            await self._connection.client.head_bucket(Bucket=bucket)
        except (ClientError, BotoCoreError, OSError) as error:
            raise self._failed(f"reading bucket {bucket}", error) from error

    async def put_file(self, bucket: str, key: str, path: Path, content_type: str) -> StoredVersion:
        """Upload one file; the ETag and version S3 gave it (what its results are keyed by)."""
        try:
            body = await asyncio.to_thread(path.read_bytes)
            answer = await self._connection.client.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType=content_type
            )
        except (ClientError, BotoCoreError, OSError) as error:
            raise self._failed(f"uploading s3://{bucket}/{key}", error) from error
        return StoredVersion(answer["ETag"].strip('"'), answer.get("VersionId"))

    async def list_page(self, bucket: str, prefix: str, *, start_after: str, max_keys: int) -> ListingPage:
        """One ListObjectsV2 page of objects under ``prefix`` whose keys sort after ``start_after``."""
        try:
            answer = await self._connection.client.list_objects_v2(
                Bucket=bucket, Prefix=prefix, StartAfter=start_after, MaxKeys=max_keys
            )
        except (ClientError, BotoCoreError, OSError) as error:
            raise self._failed(f"listing s3://{bucket}/{prefix}", error) from error
        objects = [
            ListedKey(entry["Key"], entry["ETag"].strip('"'), int(entry.get("Size", 0)))
            for entry in answer.get("Contents", [])
        ]
        return ListingPage(objects, bool(answer.get("IsTruncated")))
