"""The settlement policy: which failures are the message's, and what each one costs it."""

from __future__ import annotations

import pytest

from aquaflow_shared.errors import Deferred, DependencyUnavailable, PermanentError
from aquaflow_shared.settlement import Action, RetryPolicy

POLICY = RetryPolicy(max_attempts=3, backoff_seconds=1.0, backoff_max_seconds=5.0)


def test_success_is_acknowledged() -> None:
    assert POLICY.decide(None, 1).action is Action.ACK


def test_bad_input_is_a_dead_letter_at_once_with_its_code() -> None:
    decision = POLICY.decide(PermanentError("not an image", code="not_an_image"), 1)
    assert (decision.action, decision.code, decision.reason) == (Action.DEAD_LETTER, "not_an_image", "not an image")


def test_an_outage_pauses_whatever_the_attempt() -> None:
    decision = POLICY.decide(DependencyUnavailable("triton", "connection refused"), 99)
    assert (decision.action, decision.dependency) == (Action.PAUSE, "triton")


@pytest.mark.parametrize(("attempt", "delay"), [(1, 1.0), (2, 2.0)])
def test_a_message_failure_is_retried_with_a_doubling_delay(attempt: int, delay: float) -> None:
    decision = POLICY.decide(TimeoutError("slow"), attempt)
    assert (decision.action, decision.delay_seconds, decision.counts_attempt) == (Action.RETRY, delay, True)


def test_the_last_attempt_gives_up_with_the_reason() -> None:
    decision = POLICY.decide(TimeoutError("slow"), 3)
    assert (decision.action, decision.code) == (Action.DEAD_LETTER, "retries_exhausted")
    assert "gave up after 3 attempts: TimeoutError: slow" in decision.reason


def test_waiting_for_another_delivery_never_uses_up_attempts() -> None:
    decision = POLICY.decide(Deferred("claimed by another delivery"), 50)
    assert (decision.action, decision.counts_attempt, decision.delay_seconds) == (Action.RETRY, False, 5.0)


def test_the_delay_is_capped() -> None:
    assert POLICY.delay(10) == 5.0
