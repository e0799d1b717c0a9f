"""The poller's S3 adapter against moto: paginated listings and conditional HEADs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aquaflow_ingest.object_store import S3ObjectStore
from aquaflow_shared.settings import S3Settings

pytestmark = pytest.mark.integration


async def test_lists_every_page_and_heads_only_the_listed_version(
    s3_settings: S3Settings, s3: Any, new_bucket: Callable[[str], str]
) -> None:
    bucket = new_bucket("obsea-frames")
    keys = [f"cam 1/frame {i:02d}.jpg" for i in range(7)]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=f"frame {i}".encode(), Metadata={"Camera": "obsea-1"})
    s3.put_object(Bucket=bucket, Key="cam 2/other.jpg", Body=b"x")
    store = S3ObjectStore(s3_settings, page_size=3)
    store.open()
    try:
        listed = [o async for o in store.list_objects(bucket, "cam 1/")]
        assert [o.key for o in listed] == keys
        assert all(o.size == 7 and o.last_modified.tzinfo is not None for o in listed)

        first = listed[0]
        head = await store.head(bucket, first.key, first.etag)
        assert head is not None
        assert (head.etag, head.size, head.metadata) == (first.etag, 7, {"camera": "obsea-1"})

        s3.put_object(Bucket=bucket, Key=first.key, Body=b"replaced")
        assert await store.head(bucket, first.key, first.etag) is None
        s3.delete_object(Bucket=bucket, Key=listed[1].key)
        assert await store.head(bucket, listed[1].key, listed[1].etag) is None
    finally:
        store.close()
