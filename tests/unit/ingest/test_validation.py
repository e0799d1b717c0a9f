"""Objects that must not enter the pipeline are refused with the reason."""

from __future__ import annotations

import pytest

from aquaflow_ingest.errors import EmptyObject, ObjectTooLarge, UnsafeKey
from aquaflow_ingest.validation import check_key, check_object
from aquaflow_shared.contracts import ObjectRef


def obj(key: str = "run 1/cell.png", size: int | None = 100) -> ObjectRef:
    return ObjectRef(bucket="plankton-flowcam", key=key, etag="e1", size=size)


@pytest.mark.parametrize("key", ["run 1/été cellule+1.png", "a..b.png", "x/..hidden/y.png", "dots.../z.jpg", "."])
def test_sane_keys_pass(key: str) -> None:
    check_key(key)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("../etc/passwd", "'..' path segment"),
        ("a/../../b.png", "'..' path segment"),
        ("a/..", "'..' path segment"),
        ("a\\..\\b.png", "'..' path segment"),
        ("cell\x00.png", "NUL"),
        ("cell\n.png", "control characters"),
        ("cell\x7f.png", "control characters"),
    ],
)
def test_unsafe_keys_are_refused(key: str, reason: str) -> None:
    with pytest.raises(UnsafeKey, match=reason):
        check_key(key)


def test_size_limits() -> None:
    check_object(obj(size=1000), max_object_bytes=1000)
    check_object(obj(size=None), max_object_bytes=1000)  # unknown size: the downloader enforces it
    with pytest.raises(ObjectTooLarge, match="is 1001 bytes, over the limit of 1000 bytes") as too_large:
        check_object(obj(size=1001), max_object_bytes=1000)
    assert too_large.value.code == "oversize"
    with pytest.raises(EmptyObject, match=r"s3://plankton-flowcam/run 1/cell.png is empty") as empty:
        check_object(obj(size=0), max_object_bytes=1000)
    assert empty.value.code == "empty_object"


def test_the_key_is_checked_before_the_size() -> None:
    with pytest.raises(UnsafeKey):
        check_object(obj(key="../x.png", size=0), max_object_bytes=1000)
