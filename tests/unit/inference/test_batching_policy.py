"""When the waiting model calls of the messages in flight are sent, and which go together (pure)."""

from __future__ import annotations

import pytest

from aquaflow_inference.batch_policy import FlushPolicy

POLICY = FlushPolicy(max_rows=8, max_delay=0.1)


def test_a_lone_call_on_an_idle_worker_goes_at_once() -> None:
    assert POLICY.reason_to_flush(rows=1, expected=0, waited=0.0) == "none_expected"


def test_calls_wait_while_other_messages_are_on_their_way_and_the_oldest_is_young() -> None:
    assert POLICY.reason_to_flush(rows=3, expected=5, waited=0.0) is None
    assert POLICY.reason_to_flush(rows=7, expected=1, waited=0.099) is None


def test_the_last_expected_message_arriving_sends_what_waits() -> None:
    assert POLICY.reason_to_flush(rows=4, expected=0, waited=0.01) == "none_expected"


def test_rows_that_fill_a_request_go_without_waiting_for_the_others() -> None:
    assert POLICY.reason_to_flush(rows=8, expected=20, waited=0.0) == "full"
    assert POLICY.reason_to_flush(rows=50, expected=0, waited=1.0) == "full"


def test_the_oldest_call_waits_no_longer_than_max_delay() -> None:
    assert POLICY.reason_to_flush(rows=2, expected=30, waited=0.1) == "deadline"
    assert POLICY.reason_to_flush(rows=2, expected=30, waited=5.0) == "deadline"
    assert POLICY.deadline(12.5) == pytest.approx(12.6)


def test_nothing_waiting_is_nothing_to_send() -> None:
    assert POLICY.reason_to_flush(rows=0, expected=0, waited=9.0) is None


def test_no_delay_sends_every_call_as_it_comes() -> None:
    eager = FlushPolicy(max_rows=8, max_delay=0.0)
    assert eager.reason_to_flush(rows=1, expected=30, waited=0.0) == "deadline"


@pytest.mark.parametrize(
    ("rows", "taken"),
    [
        ([1] * 20, 8),  # single rows: a full request
        ([3, 3, 3], 2),  # one call's rows are never split: the third waits for the next request
        ([2, 6, 1], 2),  # exactly full
        ([20, 1], 1),  # a call over max_rows goes alone (the client chunks it)
        ([1, 1, 20], 2),  # the older calls go first, the large one next
        ([5], 1),
        ([], 0),
    ],
)
def test_calls_join_whole_oldest_first_up_to_max_rows(rows: list[int], taken: int) -> None:
    assert POLICY.calls_to_join(rows) == taken


@pytest.mark.parametrize(("max_rows", "max_delay"), [(0, 0.1), (8, -0.01)])
def test_a_policy_that_could_never_send_is_refused(max_rows: int, max_delay: float) -> None:
    with pytest.raises(ValueError, match="max_"):
        FlushPolicy(max_rows=max_rows, max_delay=max_delay)


WORTH_WAITING = FlushPolicy(max_rows=32, max_delay=0.5, min_rows=8)


def test_a_worker_holding_too_few_messages_for_a_batch_sends_at_once() -> None:
    # Not saturated: even if every message on its way joined, the request would stay small.
    assert WORTH_WAITING.reason_to_flush(rows=1, expected=2, waited=0.0) == "few_expected"
    assert WORTH_WAITING.reason_to_flush(rows=3, expected=4, waited=0.0) == "few_expected"


def test_a_saturated_worker_waits_for_the_batch_it_can_make() -> None:
    assert WORTH_WAITING.reason_to_flush(rows=1, expected=7, waited=0.0) is None
    assert WORTH_WAITING.reason_to_flush(rows=5, expected=30, waited=0.49) is None
    assert WORTH_WAITING.reason_to_flush(rows=5, expected=30, waited=0.5) == "deadline"


def test_a_minimum_above_the_request_size_is_clipped_to_it() -> None:
    small = FlushPolicy(max_rows=4, max_delay=0.5, min_rows=8)
    assert small.reason_to_flush(rows=1, expected=3, waited=0.0) is None
    assert small.reason_to_flush(rows=1, expected=2, waited=0.0) == "few_expected"


def test_a_minimum_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="min_rows"):
        FlushPolicy(max_rows=8, max_delay=0.1, min_rows=0)
