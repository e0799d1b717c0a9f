"""S3 through aiobotocore against moto's S3 server: reads within the size limit, writes, errors sorted, probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from aquaflow_devstack.ports import free_port
from aquaflow_inference.errors import ObjectMissing, ObjectTooLarge, OutputBucketMissing, StorageUnavailable
from aquaflow_inference.storage import ClientLimits, S3Storage
from tests.integration.inference.conftest import BUCKET, Parts

pytestmark = pytest.mark.integration

OUTPUT = "inference-it-out"


@pytest.fixture
async def opened() -> AsyncIterator[list[S3Storage]]:
    """Every storage a test opens, closed afterwards."""
    storages: list[S3Storage] = []
    yield storages
    for storage in storages:
        await storage.close()


@pytest.fixture
def storage_of(parts: Parts, opened: list[S3Storage]) -> Any:
    async def storage(**changes: object) -> S3Storage:
        opened.append(S3Storage(parts.s3.model_copy(update=changes), ClientLimits(connect_timeout_seconds=1)))
        await opened[-1].open()
        return opened[-1]

    return storage


@pytest.fixture
def output_bucket(parts: Parts) -> str:
    client = parts.s3_server.client()
    if OUTPUT not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=OUTPUT)
    return OUTPUT


async def test_reads_the_announced_version(parts: Parts, storage_of: Any) -> None:
    obj = parts.upload("storage/a b.png", b"x" * 1000)
    assert await (await storage_of()).read(obj) == b"x" * 1000


async def test_reads_a_body_larger_than_one_chunk_whole(parts: Parts, storage_of: Any) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, several reads of the stream
    obj = parts.upload("storage/large.bin", body)
    assert await (await storage_of()).read(obj) == body


async def test_an_object_deleted_before_processing_is_permanent(parts: Parts, storage_of: Any) -> None:
    obj = parts.upload("storage/deleted.png", b"gone soon")
    parts.s3_server.client().delete_object(Bucket=BUCKET, Key=obj.key)
    with pytest.raises(ObjectMissing, match="does not exist") as missing:
        await (await storage_of()).read(obj)
    assert missing.value.code == "object_missing"


async def test_an_object_replaced_since_the_event_is_not_read(parts: Parts, storage_of: Any) -> None:
    old = parts.upload("storage/replaced.png", b"old")
    parts.upload("storage/replaced.png", b"newer content")
    with pytest.raises(ObjectMissing, match="changed since the event"):
        await (await storage_of()).read(old)


async def test_an_oversize_object_is_refused_before_download(parts: Parts, storage_of: Any) -> None:
    obj = parts.upload("storage/big.png", b"y" * 5000)
    storage = await storage_of(max_object_bytes=4096)
    with pytest.raises(ObjectTooLarge, match="5000 bytes, over the limit of 4096"):
        await storage.read(obj)  # the size in the event
    unsized = obj.model_copy(update={"size": None})
    with pytest.raises(ObjectTooLarge, match="5000 bytes, over the limit of 4096"):
        await storage.read(unsized)  # the size S3 reports


async def test_an_unreachable_s3_is_an_outage_of_the_dependency(parts: Parts, storage_of: Any) -> None:
    obj = parts.upload("storage/c.png", b"z")
    storage = await storage_of(endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StorageUnavailable, match="S3 unreachable") as down:
        await storage.read(obj)
    assert down.value.dependency == "s3"
    with pytest.raises(StorageUnavailable, match="S3 unreachable"):
        await storage.write(OUTPUT, "k.png", b"png", "image/png")


async def test_writes_land_where_they_are_named_and_overwrite(
    parts: Parts, storage_of: Any, output_bucket: str
) -> None:
    storage = await storage_of()
    await storage.write(output_bucket, "lov/S1/abc/x_0000.png", b"first", "image/png")
    await storage.write(output_bucket, "lov/S1/abc/x_0000.png", b"second", "image/png")
    stored = parts.s3_server.client().get_object(Bucket=output_bucket, Key="lov/S1/abc/x_0000.png")
    assert (stored["Body"].read(), stored["ContentType"]) == (b"second", "image/png")


async def test_a_missing_output_bucket_is_a_clear_error_at_start_and_an_outage_later(
    parts: Parts, storage_of: Any, output_bucket: str
) -> None:
    storage = await storage_of()
    await storage.check_bucket(output_bucket)
    with pytest.raises(OutputBucketMissing, match="'no-such-output' does not exist"):
        await storage.check_bucket("no-such-output")
    with pytest.raises(StorageUnavailable, match="bucket does not exist"):
        await storage.write("no-such-output", "k.png", b"png", "image/png")


async def test_the_probe_says_whether_s3_answers(parts: Parts, storage_of: Any, output_bucket: str) -> None:
    storage = await storage_of()
    assert await storage.reachable(output_bucket, timeout=5)
    assert await storage.reachable(None, timeout=5)
    assert not await storage.reachable("no-such-output", timeout=5)  # writing could not succeed yet
    down = await storage_of(endpoint_url=f"http://127.0.0.1:{free_port()}")
    assert not await down.reachable(output_bucket, timeout=5)
    assert not await down.reachable(None, timeout=5)
