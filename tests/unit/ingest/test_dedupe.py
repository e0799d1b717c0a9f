"""The in-process store of seen objects expires entries and stays bounded."""

from __future__ import annotations

from aquaflow_ingest.dedupe import InMemorySeenObjects


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_object_is_seen_until_its_entry_expires() -> None:
    clock = ManualClock()
    seen = InMemorySeenObjects(ttl_seconds=60, max_entries=10, clock=clock)
    assert not await seen.contains("a")
    assert await seen.add("a")
    assert not await seen.add("a")
    clock.now += 59.9
    assert await seen.contains("a")
    clock.now += 0.2
    assert not await seen.contains("a")
    assert len(seen) == 0
    assert await seen.add("a")


async def test_the_oldest_entries_go_first_beyond_the_bound() -> None:
    clock = ManualClock()
    seen = InMemorySeenObjects(ttl_seconds=3600, max_entries=3, clock=clock)
    for name in "abcde":
        clock.now += 1
        await seen.add(name)
    assert len(seen) == 3
    assert [await seen.contains(n) for n in "abcde"] == [False, False, True, True, True]
