"""The aiobotocore S3 adapter against moto: pages, conditional HEADs, streaming, error kinds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aquaflow_ingest.errors import ObjectMissing
from aquaflow_ingest.object_store import S3ObjectStore
from aquaflow_shared.errors import DependencyUnavailable
from aquaflow_shared.settings import S3Settings

pytestmark = pytest.mark.integration


async def test_pages_heads_downloads_and_puts(
    s3_settings: S3Settings, s3: Any, new_bucket: Callable[[str], str], tmp_path: Path
) -> None:
    bucket = new_bucket("obsea-frames")
    keys = [f"cam 1/frame {i:02d}.jpg" for i in range(5)]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=f"frame {i}".encode(), Metadata={"Camera": "obsea-1"})
    store = S3ObjectStore(s3_settings)
    await store.open()
    try:
        first = await store.list_page(bucket, "cam 1/", start_after="", max_keys=3)
        rest = await store.list_page(bucket, "cam 1/", start_after=first.objects[-1].key, max_keys=3)
        assert (first.truncated, rest.truncated) == (True, False)
        assert [o.key for o in first.objects + rest.objects] == keys
        listed = first.objects[0]
        head = await store.head(bucket, listed.key, etag=listed.etag)
        assert (head.etag, head.size, head.metadata) == (listed.etag, 7, {"camera": "obsea-1"})
        size = await store.download(
            bucket, listed.key, tmp_path / "x", etag=listed.etag, version_id=None, max_bytes=100
        )
        assert (size, (tmp_path / "x").read_bytes()) == (7, b"frame 0")
        (tmp_path / "y").write_bytes(b"member")
        stored = await store.put_file(
            bucket, "out/y.png", tmp_path / "y", content_type="image/png", metadata={"a": "b"}
        )
        assert (await store.head(bucket, "out/y.png", etag=stored.etag)).metadata == {"a": "b"}
        s3.put_object(Bucket=bucket, Key=listed.key, Body=b"replaced")
        with pytest.raises(ObjectMissing):
            await store.head(bucket, listed.key, etag=listed.etag)
        s3.delete_object(Bucket=bucket, Key=keys[1])
        with pytest.raises(ObjectMissing):
            await store.download(bucket, keys[1], tmp_path / "z", etag="e", version_id=None, max_bytes=100)
    finally:
        await store.close()


async def test_an_unreachable_server_is_a_dependency_outage(s3_settings: S3Settings) -> None:
    down = s3_settings.model_copy(update={"endpoint_url": "http://127.0.0.1:1"})
    store = S3ObjectStore(down, connect_timeout_seconds=0.5, read_timeout_seconds=0.5)
    await store.open()
    try:
        with pytest.raises(DependencyUnavailable, match="s3 unavailable"):
            await store.head("bucket", "key")
    finally:
        await store.close()
