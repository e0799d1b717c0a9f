"""S3 through aiobotocore: the uploaded object read, crops written, S3's errors sorted.

One client per worker, opened in the app's lifespan, with a pool of connections shared
by every message in flight. An object over the size limit is refused before its body is
downloaded. Errors are sorted by whose fault they are: a missing object is the message's
(permanent), an unreachable or failing S3 is an outage of the dependency (the consumer
waits for it), anything else S3 answers is retried a bounded number of times.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from aquaflow_inference.errors import (
    ObjectMissing,
    ObjectTooLarge,
    OutputBucketMissing,
    StorageRefused,
    StorageUnavailable,
)
from aquaflow_shared.contracts import ObjectRef
from aquaflow_shared.s3 import S3ClientLimits, S3Connection
from aquaflow_shared.settings import S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})
CHANGED = frozenset({"PreconditionFailed", "412"})
# Credentials or policy refused: an operator's fix, not the message's fault, so wait for it.
DENIED = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"})
READ_CHUNK = 256 * 1024
# The client's own retries (standard mode: connection errors, 5xx, throttling) come first;
# what still fails after them is an outage.
CLIENT_ATTEMPTS = 3
# Errors raised below botocore (a connection dropped mid-body) that botocore does not wrap.
NETWORK_ERRORS = (BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


class ObjectReader(Protocol):
    async def read(self, obj: ObjectRef) -> bytes: ...


class ObjectWriter(Protocol):
    async def write(self, bucket: str, key: str, data: bytes, content_type: str) -> None: ...

    async def check_bucket(self, bucket: str) -> None:
        """Raise ``OutputBucketMissing`` if ``bucket`` cannot be written to (start-up check)."""


@dataclass(frozen=True)
class ClientLimits:
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_connections: int = 64


def error_code(error: ClientError) -> tuple[str, int]:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def translate(error: ClientError, obj_or_target: str, *, reading: bool) -> Exception:
    """Sort an answer of S3 that is an error (pure, so every case is unit-tested)."""
    code, status = error_code(error)
    if reading and code in MISSING:
        return ObjectMissing(f"{obj_or_target} does not exist (any more)")
    if reading and code in CHANGED:
        return ObjectMissing(f"{obj_or_target} changed since the event")
    if not reading and code in MISSING:
        # The output bucket is gone: no message can be written until an operator restores it.
        return StorageUnavailable(f"cannot write {obj_or_target}: the bucket does not exist ({code})")
    if status >= 500 or code in DENIED or code in {"SlowDown", "ServiceUnavailable", "InternalError"}:
        return StorageUnavailable(f"S3 answered {code or status} for {obj_or_target}")
    return StorageRefused(f"S3 refused {obj_or_target}: {code or status} {error}")


class S3Storage:
    """Reads uploads and writes outputs; ``open`` and ``close`` belong in the app's lifespan."""

    def __init__(self, settings: S3Settings, limits: ClientLimits | None = None) -> None:
        limits = limits or ClientLimits()
        self._settings = settings
        self._connection = S3Connection(
            settings,
            S3ClientLimits(
                limits.connect_timeout_seconds, limits.read_timeout_seconds, limits.max_connections, CLIENT_ATTEMPTS
            ),
        )

    async def open(self) -> None:
        await self._connection.open()

    async def close(self) -> None:
        await self._connection.close()

    @property
    def client(self) -> S3Client:
        if not self._connection.is_open:
            raise StorageUnavailable("the S3 client is not open")
        return self._connection.client

    async def read(self, obj: ObjectRef) -> bytes:
        limit = self._settings.max_object_bytes
        if obj.size is not None and obj.size > limit:
            raise ObjectTooLarge(f"object is {obj.size} bytes, over the limit of {limit}")
        where = f"s3://{obj.bucket}/{obj.key}"
        try:
            # IfMatch: read exactly the version the event announced; a newer one has its own event.
            response = await self.client.get_object(Bucket=obj.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')
            async with response["Body"] as body:
                length = int(response.get("ContentLength", 0))
                if length > limit:
                    raise ObjectTooLarge(f"object is {length} bytes, over the limit of {limit}")
                data = await _read_at_most(body, limit + 1)
        except ClientError as error:
            raise translate(error, f"{where} (ETag {obj.etag})", reading=True) from error
        except NETWORK_ERRORS as error:
            raise StorageUnavailable(f"S3 unreachable reading {where}: {error}") from error
        if len(data) > limit:
            raise ObjectTooLarge(f"object is over the limit of {limit} bytes")
        return data

    async def write(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        where = f"s3://{bucket}/{key}"
        try:
            await self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except ClientError as error:
            raise translate(error, where, reading=False) from error
        except NETWORK_ERRORS as error:
            raise StorageUnavailable(f"S3 unreachable writing {where}: {error}") from error

    async def check_bucket(self, bucket: str) -> None:
        """At start-up: refuse to run with an output bucket that does not exist."""
        try:
            await self.client.head_bucket(Bucket=bucket)
        except ClientError as error:
            code, status = error_code(error)
            if code in MISSING:
                raise OutputBucketMissing(
                    f"output bucket {bucket!r} does not exist: create it or set AQUAFLOW_INFERENCE_OUTPUT_BUCKET"
                ) from error
            answer = code or status
            raise OutputBucketMissing(f"output bucket {bucket!r} is not usable: S3 answered {answer}") from error
        except NETWORK_ERRORS as error:
            raise StorageUnavailable(f"S3 unreachable checking the output bucket {bucket!r}: {error}") from error

    async def reachable(self, bucket: str | None, timeout: float) -> bool:
        """Whether S3 answers again: the probe a consumer paused by an S3 outage polls.

        With an output bucket, it must exist and be accessible (writing needs it); without
        one, any answer of the server short of a 5xx means it is back.
        """
        try:
            async with asyncio.timeout(timeout):
                if bucket is not None:
                    await self.client.head_bucket(Bucket=bucket)
                else:
                    await self.client.list_buckets()
        except ClientError as error:
            return bucket is None and error_code(error)[1] < 500
        except (StorageUnavailable, *NETWORK_ERRORS):
            return False
        return True


class _Body(Protocol):
    async def read(self, amt: int | None = None) -> bytes: ...


async def _read_at_most(body: _Body, most: int) -> bytes:
    """Read until the end or ``most`` bytes, whichever comes first (a liar's Content-Length too)."""
    parts: list[bytes] = []
    total = 0
    while total < most:
        chunk = await body.read(min(READ_CHUNK, most - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)
