"""Coalesced sample refreshes: fewer recomputations, and none of a caller's writes left out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aquaflow_results.samples import CoalescedRefreshes


class Sample:
    """A stand-in for the stored results: a count of writes, and refreshes that read it."""

    def __init__(self) -> None:
        self.writes = 0
        self.refreshes = 0
        self.gate = asyncio.Event()

    async def refresh(self) -> dict[str, Any]:
        self.refreshes += 1
        seen = self.writes  # the snapshot a real refresh reads at its start
        await self.gate.wait()
        return {"seen": seen}


async def test_asks_made_during_a_refresh_share_the_next_one_and_each_sees_its_write() -> None:
    refreshes, sample = CoalescedRefreshes(), Sample()

    async def store_then_refresh() -> tuple[int, dict[str, Any] | None]:
        sample.writes += 1
        mine = sample.writes
        return mine, await refreshes.run("lov:run1", sample.refresh)

    callers = [asyncio.create_task(store_then_refresh()) for _ in range(20)]
    await asyncio.sleep(0)  # every caller has stored and asked; the first refresh is under way
    sample.gate.set()
    outcomes = await asyncio.gather(*callers)

    assert sample.refreshes == 2, "one refresh running, one for everything asked meanwhile"
    assert all(found is not None and found["seen"] >= mine for mine, found in outcomes)


async def test_samples_refresh_independently() -> None:
    refreshes, a, b = CoalescedRefreshes(), Sample(), Sample()
    a.gate.set()
    b.gate.set()
    await asyncio.gather(refreshes.run("a", a.refresh), refreshes.run("b", b.refresh))
    assert (a.refreshes, b.refreshes) == (1, 1)


async def test_a_failed_refresh_leaves_the_waiting_callers_to_refresh_again() -> None:
    refreshes, attempts = CoalescedRefreshes(), list[int]()
    release = asyncio.Event()

    async def flaky() -> dict[str, Any]:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            await release.wait()
            raise ConnectionError("MongoDB went away")
        return {"attempt": len(attempts)}

    first = asyncio.create_task(refreshes.run("s", flaky))
    await asyncio.sleep(0)
    second = asyncio.create_task(refreshes.run("s", flaky))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(ConnectionError):
        await first
    assert await second == {"attempt": 2}
    assert await refreshes.run("s", flaky) == {"attempt": 3}, "a later ask refreshes again"
