"""The settlement policy: what becomes of a message after its handler ran. Pure, no I/O.

Three kinds of failure are told apart, because only one of them is the message's fault:
- ``PermanentError``: retrying cannot help (bad input): dead-letter at once.
- ``DependencyUnavailable``: Triton, S3, MongoDB… is down. Not the message's fault: the
  consumer pauses and the message goes back to its queue without counting an attempt.
- ``Deferred``: the message waits for another delivery of it to finish; retried after a
  delay without counting an attempt.
- anything else: a failure of this message that may pass (a full Triton queue, a
  timeout). Retried after a growing delay, dead-lettered once ``max_attempts`` have failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from aquaflow_shared.errors import Deferred, DependencyUnavailable, PermanentError

ATTEMPTS_EXHAUSTED = "retries_exhausted"


class Action(Enum):
    ACK = "ack"
    DEAD_LETTER = "dead_letter"
    RETRY = "retry"
    PAUSE = "pause"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""
    code: str = ""
    delay_seconds: float = 0.0
    dependency: str | None = None
    # False for a retry that is no failure of the message (``Deferred``).
    counts_attempt: bool = True


# Most messages succeed: one decision for all of them instead of a new one each.
ACK = Decision(Action.ACK)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float

    def delay(self, attempt: int) -> float:
        """The wait before attempt ``attempt + 1``: doubling from the first, up to the cap."""
        return float(min(self.backoff_seconds * 2.0 ** max(attempt - 1, 0), self.backoff_max_seconds))

    def decide(self, error: BaseException | None, attempt: int) -> Decision:
        """Settle attempt number ``attempt`` (1 for the first) that ended with ``error``."""
        if error is None:
            return ACK
        if isinstance(error, PermanentError):
            return Decision(Action.DEAD_LETTER, reason=error.reason, code=error.code)
        if isinstance(error, Deferred):
            reason = f"{type(error).__name__}: {error}"
            delay = self.delay(max(attempt - 1, 1))
            return Decision(Action.RETRY, reason=reason, code=error.code, delay_seconds=delay, counts_attempt=False)
        if isinstance(error, DependencyUnavailable):
            return Decision(Action.PAUSE, reason=str(error), code=error.code, dependency=error.dependency)
        reason = f"{type(error).__name__}: {error}"
        if attempt >= self.max_attempts:
            return Decision(
                Action.DEAD_LETTER, reason=f"gave up after {attempt} attempts: {reason}", code=ATTEMPTS_EXHAUSTED
            )
        code = str(getattr(error, "code", "error"))
        return Decision(Action.RETRY, reason=reason, code=code, delay_seconds=self.delay(attempt))
