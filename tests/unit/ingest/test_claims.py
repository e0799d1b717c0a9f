"""In-process claims: atomic among coroutines, leases lapse, kept claims expire, memory bounded."""

from __future__ import annotations

import asyncio

from aquaflow_ingest.claims import InMemoryClaims


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_of_many_concurrent_claims_exactly_one_wins() -> None:
    claims = InMemoryClaims(ttl_seconds=60, lease_seconds=10, max_entries=10)
    won = await asyncio.gather(*(claims.claim("a") for _ in range(20)))
    assert won.count(True) == 1


async def test_a_lease_lapses_a_kept_claim_lasts_until_its_ttl() -> None:
    clock = ManualClock()
    claims = InMemoryClaims(ttl_seconds=60, lease_seconds=10, max_entries=10, clock=clock)
    assert await claims.claim("a")
    assert not await claims.is_kept("a")
    clock.now += 10.1  # the holder died before its publish was confirmed
    assert await claims.claim("a")
    await claims.keep("a")
    assert await claims.is_kept("a")
    await claims.release("a")  # a late release never drops a kept claim
    assert not await claims.claim("a")
    clock.now += 60.1
    assert await claims.claim("a")


async def test_a_released_claim_can_be_taken_again() -> None:
    claims = InMemoryClaims(ttl_seconds=60, lease_seconds=10, max_entries=10)
    assert await claims.claim("a")
    await claims.release("a")
    assert await claims.claim("a")


async def test_the_oldest_entries_go_first_beyond_the_bound() -> None:
    clock = ManualClock()
    claims = InMemoryClaims(ttl_seconds=3600, lease_seconds=10, max_entries=3, clock=clock)
    for name in "abcde":
        clock.now += 1
        await claims.claim(name)
        await claims.keep(name)
    assert len(claims) == 3
    assert [await claims.is_kept(n) for n in "abcde"] == [False, False, True, True, True]
