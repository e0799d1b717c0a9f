"""When the worker sends the model calls waiting to be joined, and which of them go together (pure).

The calls of the messages a worker holds wait to be stacked into one request to the model.
They are sent as soon as waiting longer cannot help or must not go on:

- ``full``: the rows waiting fill a request to the model;
- ``none_expected``: no other message the worker holds is still on its way to the model, so
  nothing more is coming (an idle worker's single upload goes straight through);
- ``few_expected``: the calls waiting and every message still on its way together would not
  make a request of ``min_rows``, a batch worth waiting for: a worker that is not saturated
  (a few uploads at a time) sends at once instead of making each of them wait;
- ``deadline``: the oldest call has waited ``max_delay``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

FlushReason = Literal["full", "none_expected", "few_expected", "deadline"]


@dataclass(frozen=True)
class FlushPolicy:
    max_rows: int  # rows in one joined request (at most the model's max batch size)
    max_delay: float  # seconds the oldest waiting call may wait for others
    min_rows: int = 1  # the smallest request worth waiting for (clipped to max_rows)

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {self.max_rows}")
        if self.min_rows < 1:
            raise ValueError(f"min_rows must be at least 1, got {self.min_rows}")
        if self.max_delay < 0:
            raise ValueError(f"max_delay must not be negative, got {self.max_delay}")

    def reason_to_flush(self, *, rows: int, expected: int, waited: float) -> FlushReason | None:
        """Why the calls waiting (``rows`` in all, the oldest for ``waited`` seconds) go now; None: they wait.

        ``expected`` is how many messages the worker holds that have not reached the model yet.
        """
        if rows <= 0:
            return None
        if rows >= self.max_rows:
            return "full"
        if expected <= 0:
            return "none_expected"
        if rows + expected < min(self.min_rows, self.max_rows):
            return "few_expected"
        if waited >= self.max_delay:
            return "deadline"
        return None

    def deadline(self, oldest_since: float) -> float:
        """When the calls waiting since ``oldest_since`` go at the latest (same clock)."""
        return oldest_since + self.max_delay

    def calls_to_join(self, rows: Sequence[int]) -> int:
        """How many waiting calls, oldest first (``rows`` each), go in the next request.

        As many as fit in ``max_rows`` whole: one call's rows are never split across requests.
        A call larger than ``max_rows`` goes alone (the model's client chunks it as before).
        """
        taken, total = 0, 0
        for count in rows:
            if taken and total + count > self.max_rows:
                break
            taken, total = taken + 1, total + count
        return taken
