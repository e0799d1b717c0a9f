"""Reading uploads from moto's S3 server: the version announced, within the size limit, errors sorted."""

from __future__ import annotations

import pytest

from aquaflow_devstack.ports import free_port
from aquaflow_inference.errors import ObjectMissing, ObjectTooLarge, StorageUnavailable
from aquaflow_inference.storage import S3ObjectReader
from aquaflow_shared.contracts import ObjectRef
from tests.integration.inference.conftest import BUCKET, Parts

pytestmark = pytest.mark.integration


def reader(parts: Parts, **changes: object) -> S3ObjectReader:
    storage = S3ObjectReader(parts.s3.model_copy(update=changes))
    storage.open()
    return storage


async def test_reads_the_announced_version(parts: Parts) -> None:
    obj = parts.upload("storage/a b.png", b"x" * 1000)
    assert await reader(parts).read(obj) == b"x" * 1000


async def test_a_missing_object_is_permanent(parts: Parts) -> None:
    obj = ObjectRef(bucket=BUCKET, key="storage/never-uploaded.png", etag="0123456789abcdef")
    with pytest.raises(ObjectMissing, match="does not exist"):
        await reader(parts).read(obj)


async def test_an_object_replaced_since_the_event_is_not_read(parts: Parts) -> None:
    old = parts.upload("storage/replaced.png", b"old")
    parts.upload("storage/replaced.png", b"newer content")
    with pytest.raises(ObjectMissing, match="changed since the event"):
        await reader(parts).read(old)


async def test_an_oversize_object_is_refused_before_download(parts: Parts) -> None:
    obj = parts.upload("storage/big.png", b"y" * 5000)
    storage = reader(parts, max_object_bytes=4096)
    with pytest.raises(ObjectTooLarge, match="5000 bytes, over the limit of 4096"):
        await storage.read(obj)  # the size in the event
    unsized = obj.model_copy(update={"size": None})
    with pytest.raises(ObjectTooLarge, match="5000 bytes, over the limit of 4096"):
        await storage.read(unsized)  # the size S3 reports


async def test_an_unreachable_s3_is_transient(parts: Parts) -> None:
    obj = parts.upload("storage/c.png", b"z")
    storage = reader(parts, endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StorageUnavailable, match="S3 unreachable"):
        await storage.read(obj)
