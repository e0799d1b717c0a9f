"""Claims on object versions, so that each one is announced once.

A delivery *claims* an identity (the ``message_id`` the announcement will carry)
before it publishes. The claim is atomic: of two copies of one notification
handled at the same moment, by one process or by two replicas, exactly one wins.

A fresh claim is only a *lease* (``lease_seconds``): if the winner dies before
its publish is confirmed, the lease lapses and a redelivery claims again, so a
crash can delay an upload but never lose it. Once the publish is confirmed the
claim is *kept* for ``ttl_seconds``; a failed publish *releases* it at once.

A delivery that finds a claim kept has a duplicate; one that finds a lease held
by someone else retries later (``ClaimPending``), because the holder may still fail.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class ClaimStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def claim(self, identity: str) -> bool:
        """Take ``identity`` for a lease; False if anyone holds or kept it."""
        ...

    async def keep(self, identity: str) -> None:
        """The announcement is confirmed: hold the claim for the full TTL."""
        ...

    async def release(self, identity: str) -> None:
        """The announcement failed: drop a lease so a retry can claim again (a kept claim stays)."""
        ...

    async def is_kept(self, identity: str) -> bool:
        """True if ``identity`` was announced (kept), False if free or only leased."""
        ...


_LEASED = "leased"
_KEPT = "kept"


class InMemoryClaims:
    """Claims inside this process: bounded, expiring, the default for a single replica.

    Every operation runs under one lock, so concurrent coroutines see each
    check-and-set as a single step.
    """

    def __init__(
        self,
        *,
        ttl_seconds: float,
        lease_seconds: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._lease = lease_seconds
        self._max = max_entries
        self._clock = clock
        self._lock = asyncio.Lock()
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()

    async def ping(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self._entries)

    async def claim(self, identity: str) -> bool:
        async with self._lock:
            if self._current(identity) is not None:
                return False
            self._put(identity, _LEASED, self._lease)
            return True

    async def keep(self, identity: str) -> None:
        async with self._lock:
            self._put(identity, _KEPT, self._ttl)

    async def release(self, identity: str) -> None:
        async with self._lock:
            if self._current(identity) == _LEASED:
                del self._entries[identity]

    async def is_kept(self, identity: str) -> bool:
        async with self._lock:
            return self._current(identity) == _KEPT

    def _current(self, identity: str) -> str | None:
        entry = self._entries.get(identity)
        if entry is None:
            return None
        state, expiry = entry
        if expiry <= self._clock():
            del self._entries[identity]
            return None
        return state

    def _put(self, identity: str, state: str, seconds: float) -> None:
        self._entries.pop(identity, None)
        self._entries[identity] = (state, self._clock() + seconds)
        # Beyond the bound the least recently written entry goes first; memory stays bounded.
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
