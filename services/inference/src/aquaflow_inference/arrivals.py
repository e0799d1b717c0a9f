"""How many of the messages a worker holds are still on their way to the model.

The handler of each message enters ``Arrivals.expecting()``; the message leaves the count
when it first calls the model (``arrived()``, from the same task or a task it started) or
when its handling ends without calling it (a refused request, an unreadable image). The
batcher (batching.py) waits for the messages still expected, and sends what it holds as soon
as none is: a lone message is never kept waiting for company that is not coming.

Everything here runs on the event loop's thread; listeners are called synchronously.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class _Expectation:
    """One message on its way; shared by the tasks it starts, which inherit the context."""

    __slots__ = ("arrived",)

    def __init__(self) -> None:
        self.arrived = False


class Arrivals:
    def __init__(self) -> None:
        self._expected = 0
        self._listeners: list[Callable[[], None]] = []
        # One variable per instance: two workers in one process (tests) keep their own counts.
        self._current: ContextVar[_Expectation | None] = ContextVar("aquaflow_expected_message", default=None)

    @property
    def expected(self) -> int:
        """Messages held that have not reached the model yet."""
        return self._expected

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` each time a message reaches the model or leaves without reaching it."""
        self._listeners.append(listener)

    @contextmanager
    def expecting(self) -> Iterator[None]:
        """Count the message handled inside until it reaches the model or the block ends."""
        expectation = _Expectation()
        token = self._current.set(expectation)
        self._expected += 1
        try:
            yield
        finally:
            self._current.reset(token)
            self._settle(expectation)

    def arrived(self) -> None:
        """The current message reaches the model; a call outside ``expecting`` (or a second call) changes nothing."""
        expectation = self._current.get()
        if expectation is not None:
            self._settle(expectation)

    def _settle(self, expectation: _Expectation) -> None:
        if expectation.arrived:
            return
        expectation.arrived = True
        self._expected -= 1
        for listener in self._listeners:
            listener()
