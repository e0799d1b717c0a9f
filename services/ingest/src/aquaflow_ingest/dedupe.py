"""Which object versions were already announced, so duplicates give one event.

An object version is identified by the ``message_id`` of its ``object.received``
(derived from bucket, key, ETag and version id). It is marked only after the
event's publish was confirmed: a crash in between republishes the same
``message_id`` (at-least-once), it never loses the upload.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class SeenObjects(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def contains(self, object_id: str) -> bool: ...

    async def add(self, object_id: str) -> bool:
        """Mark ``object_id`` as announced; False if it already was."""
        ...


class InMemorySeenObjects:
    """Bounded and expiring: the default for a single replica.

    Entries expire after ``ttl_seconds``; beyond ``max_entries`` the oldest go
    first, so memory stays bounded under any upload rate.
    """

    def __init__(self, *, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        # Insertion order is expiry order, because every entry lives equally long.
        self._expiries: OrderedDict[str, float] = OrderedDict()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._expiries.clear()

    async def ping(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self._expiries)

    async def contains(self, object_id: str) -> bool:
        self._expire()
        return object_id in self._expiries

    async def add(self, object_id: str) -> bool:
        self._expire()
        if object_id in self._expiries:
            return False
        self._expiries[object_id] = self._clock() + self._ttl
        while len(self._expiries) > self._max:
            self._expiries.popitem(last=False)
        return True

    def _expire(self) -> None:
        now = self._clock()
        while self._expiries:
            oldest, expiry = next(iter(self._expiries.items()))
            if expiry > now:
                break
            del self._expiries[oldest]
