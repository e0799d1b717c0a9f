"""The count of messages a worker holds that are still on their way to the model."""

from __future__ import annotations

import asyncio

from aquaflow_inference.arrivals import Arrivals


def test_a_message_counts_until_it_reaches_the_model_and_only_once() -> None:
    arrivals = Arrivals()
    changes: list[int] = []
    arrivals.subscribe(lambda: changes.append(arrivals.expected))
    with arrivals.expecting():
        with arrivals.expecting():
            assert arrivals.expected == 2
            arrivals.arrived()
            arrivals.arrived()  # a second call of the same message changes nothing
            assert arrivals.expected == 1
        assert arrivals.expected == 1  # it had arrived: leaving does not count it again
    assert arrivals.expected == 0
    assert changes == [1, 0]


def test_a_message_that_ends_without_calling_the_model_leaves_the_count() -> None:
    arrivals = Arrivals()
    changes: list[int] = []
    arrivals.subscribe(lambda: changes.append(arrivals.expected))
    try:
        with arrivals.expecting():
            raise ValueError("refused before any model call")
    except ValueError:
        pass
    assert (arrivals.expected, changes) == (0, [0])


def test_a_call_outside_any_message_changes_nothing() -> None:
    arrivals = Arrivals()
    arrivals.arrived()
    assert arrivals.expected == 0


async def test_the_model_reached_from_a_task_the_message_started_counts_for_the_message() -> None:
    arrivals = Arrivals()

    async def classify() -> None:
        arrivals.arrived()

    async def measure() -> int:
        return arrivals.expected

    with arrivals.expecting():
        _, during = await asyncio.gather(classify(), measure())
        assert arrivals.expected == 0
    assert (during, arrivals.expected) == (0, 0)


async def test_concurrent_messages_are_counted_apart() -> None:
    arrivals = Arrivals()
    entered, go = asyncio.Event(), asyncio.Event()

    async def waiting() -> None:
        with arrivals.expecting():
            entered.set()
            await go.wait()
            arrivals.arrived()

    task = asyncio.create_task(waiting())
    await entered.wait()
    with arrivals.expecting():
        assert arrivals.expected == 2
        arrivals.arrived()
        assert arrivals.expected == 1  # the other message is still on its way
    go.set()
    await task
    assert arrivals.expected == 0


def test_two_workers_in_one_process_keep_their_own_counts() -> None:
    first, second = Arrivals(), Arrivals()
    with first.expecting():
        second.arrived()
        assert (first.expected, second.expected) == (1, 0)
        with second.expecting():
            first.arrived()
            assert (first.expected, second.expected) == (0, 1)
