"""What an object must satisfy before it enters the pipeline: pure checks, no I/O."""

from __future__ import annotations

import re

from aquaflow_ingest.errors import EmptyObject, ObjectTooLarge, UnsafeKey
from aquaflow_shared.contracts import ObjectRef

# Control characters end up in file names, log lines and EcoTaxa TSVs downstream.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEGMENT_SEPARATORS = re.compile(r"[/\\]")


def check_key(key: str) -> None:
    if "\x00" in key:
        raise UnsafeKey(f"object key {key!r} contains a NUL character")
    if _CONTROL.search(key):
        raise UnsafeKey(f"object key {key!r} contains control characters")
    # Both separators: a later stage may write crops or archives on any platform.
    if ".." in _SEGMENT_SEPARATORS.split(key):
        raise UnsafeKey(f"object key {key!r} has a '..' path segment")


def check_object(obj: ObjectRef, max_object_bytes: int) -> None:
    """Raise the rejection that applies to ``obj``, if any."""
    check_key(obj.key)
    where = f"s3://{obj.bucket}/{obj.key}"
    if obj.size is not None and obj.size == 0:
        raise EmptyObject(f"{where} is empty (0 bytes)")
    if obj.size is not None and obj.size > max_object_bytes:
        raise ObjectTooLarge(f"{where} is {obj.size} bytes, over the limit of {max_object_bytes} bytes")
