"""The model calls of the messages a worker holds, joined into fewer, larger requests.

Each message's handler is CPU-bound Python, so the messages reach the model one after
another and Triton's dynamic batcher, which only joins requests that overlap, sees batches
of one. ``JoinedCalls`` is a ``TensorModel`` over the model's client that holds the calls
for one version while more are coming, stacks their rows (axis 0) into one request, and
hands each caller its own rows of the answer. When the calls go is batch_policy.py's
decision; which messages are still coming, arrivals.py's count.

Each message is settled as it would have been alone. An outage (``DependencyUnavailable``:
Triton down or not serving the model) or a version Triton no longer serves
(``VersionNotServed``, which each caller judges for itself) says nothing about any one
input: every caller gets it, each its own copy. Any other failure of a joined request may be
one input's fault (refused, or making the backend fail), so each call is sent again alone and
gets its own outcome: an innocent message neither dead-lettered nor charged an attempt for
another's input. A caller cancelled while waiting is left out; one cancelled while its
request runs does not disturb the others; no caller is left waiting, whatever ends the
request. Models that Triton does not batch (``max_batch_size: 0``) are called directly, one
call per request as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from aquaflow_inference.arrivals import Arrivals
from aquaflow_inference.batch_policy import FlushPolicy, FlushReason
from aquaflow_inference.errors import TritonBusy
from aquaflow_inference.postprocess import Floats
from aquaflow_inference.preprocess import Tensor
from aquaflow_inference.spec import ModelSpec
from aquaflow_inference.triton_client import VersionNotServed
from aquaflow_inference.triton_image_model import TensorModel
from aquaflow_shared.errors import DependencyUnavailable

SentReport = Callable[[int, FlushReason], None]
# Failures that are no input's fault and would be the same for every call of the request:
# every caller gets them at once, with no call sent again.
SHARED_FAILURES: tuple[type[Exception], ...] = (DependencyUnavailable, VersionNotServed)


class BatchableTensors(TensorModel, Protocol):
    @property
    def batching(self) -> bool:
        """Whether the server stacks the rows of separate requests (Triton: ``max_batch_size`` > 0)."""


@dataclass(eq=False)
class _Call:
    """One caller's rows, waiting for their answer."""

    rows: Tensor
    answer: asyncio.Future[Floats]
    since: float  # event-loop time it started waiting


@dataclass(eq=False)
class _Lane:
    """The calls waiting for one model version, oldest first."""

    calls: list[_Call] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None

    def rows(self) -> list[int]:
        return [len(call.rows) for call in self.calls]


def _ignore(rows: int, reason: FlushReason) -> None:
    pass


class JoinedCalls:
    """A ``TensorModel`` whose concurrent ``infer`` calls for one version share requests to the model."""

    def __init__(
        self,
        tensors: BatchableTensors,
        arrivals: Arrivals,
        *,
        max_rows: int,
        max_delay: float,
        min_rows: int = 1,
        on_sent: SentReport = _ignore,
    ) -> None:
        self._tensors = tensors
        self._arrivals = arrivals
        self._max_rows = max_rows
        self._max_delay = max_delay
        self._min_rows = min_rows
        self._on_sent = on_sent
        self._lanes: dict[str | None, _Lane] = {}
        # Requests under way; held so that none is collected before it ends.
        self._sending: set[asyncio.Task[None]] = set()
        arrivals.subscribe(self._on_arrival)

    @property
    def spec(self) -> ModelSpec:
        return self._tensors.spec

    @property
    def versions(self) -> tuple[str, ...]:
        return self._tensors.versions

    async def refresh_versions(self) -> tuple[str, ...]:
        return await self._tensors.refresh_versions()

    async def served_versions(self) -> tuple[str, ...]:
        return await self._tensors.served_versions()

    async def infer(self, batch: Tensor, version: str | None = None) -> Floats:
        """``batch``'s answer, from a request it may share with the calls of other messages."""
        policy = self._policy()
        if policy is None or len(batch) == 0:
            self._arrivals.arrived()
            return await self._tensors.infer(batch, version)
        loop = asyncio.get_running_loop()
        lane = self._lanes.setdefault(version, _Lane())
        call = _Call(batch, loop.create_future(), loop.time())
        lane.calls.append(call)
        # Queued first, then counted as arrived: the flush this may trigger takes this call along.
        self._arrivals.arrived()
        self._send_due(version)
        try:
            return await call.answer
        except asyncio.CancelledError:
            if call in lane.calls:
                lane.calls.remove(call)
            elif call.answer.done() and not call.answer.cancelled():
                call.answer.exception()  # answered as it was cancelled: nobody is left to read it
            raise

    def _policy(self) -> FlushPolicy | None:
        """How calls are joined; None when they are not (an unbatched model, or one row per request)."""
        if not self._tensors.batching:
            return None
        max_rows = min(self._max_rows, self._tensors.spec.max_batch_size)
        return FlushPolicy(max_rows, self._max_delay, self._min_rows) if max_rows > 1 else None

    def _on_arrival(self) -> None:
        # One message fewer on its way: the calls waiting for it may have nothing left to wait for.
        for version in [version for version, lane in self._lanes.items() if lane.calls]:
            self._send_due(version)

    def _send_due(self, version: str | None) -> None:
        """Send what the policy says must go now, and wake up at the oldest remaining call's deadline."""
        lane = self._lanes[version]
        policy = self._policy()
        assert policy is not None  # only joined calls wait in a lane
        loop = asyncio.get_running_loop()
        while lane.calls:
            now = loop.time()
            reason = policy.reason_to_flush(
                rows=sum(lane.rows()), expected=self._arrivals.expected, waited=now - lane.calls[0].since
            )
            if reason is None:
                break
            count = policy.calls_to_join(lane.rows())
            joined, lane.calls = lane.calls[:count], lane.calls[count:]
            self._send(joined, version, reason)
        if lane.timer is not None:
            lane.timer.cancel()
            lane.timer = None
        if lane.calls:
            lane.timer = loop.call_at(policy.deadline(lane.calls[0].since), self._send_due, version)

    def _send(self, calls: list[_Call], version: str | None, reason: FlushReason) -> None:
        self._on_sent(sum(len(call.rows) for call in calls), reason)
        task = asyncio.get_running_loop().create_task(self._request(calls, version))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _request(self, calls: Sequence[_Call], version: str | None) -> None:
        """One request for ``calls``; each caller gets its own rows of the answer, or its own error."""
        calls = [call for call in calls if not call.answer.done()]  # cancelled before the request left
        if not calls:
            return
        try:
            await self._answer(calls, version)
        except Exception as fault:
            # A fault of the joining itself, past what _answer settles: fail the callers, and
            # let the task end with it so that asyncio reports it.
            for call in calls:
                if not call.answer.done():
                    call.answer.set_exception(_own_copy(fault))
            raise
        finally:
            # Whatever else ended the request (cancelled: the worker is stopping), no caller may
            # wait forever, its message never settled.
            for call in calls:
                if not call.answer.done():
                    call.answer.cancel()

    async def _answer(self, calls: list[_Call], version: str | None) -> None:
        """Settle every call: one joined request, and each call alone again if it fails for no shared reason."""
        if len(calls) == 1:
            await self._answer_alone(calls[0], version)
            return
        try:
            output = await self._infer([call.rows for call in calls], version)
        except SHARED_FAILURES as error:
            for call in calls:
                if not call.answer.done():
                    call.answer.set_exception(_own_copy(error))
            return
        except Exception:  # noqa: BLE001 - maybe one input's fault: each call is judged by itself
            await asyncio.gather(*(self._answer_alone(call, version) for call in calls if not call.answer.done()))
            return
        start = 0
        for call in calls:
            if not call.answer.done():
                call.answer.set_result(output[start : start + len(call.rows)])
            start += len(call.rows)

    async def _answer_alone(self, call: _Call, version: str | None) -> None:
        """``call`` in a request of its own: its answer, or the error it alone caused."""
        try:
            output = await self._infer([call.rows], version)
        except Exception as error:  # noqa: BLE001 - the caller settles it: retried, paused on or dead-lettered
            if not call.answer.done():
                call.answer.set_exception(error)
            return
        if not call.answer.done():
            call.answer.set_result(output)

    async def _infer(self, parts: list[Tensor], version: str | None) -> Floats:
        """The model's answer to ``parts`` stacked into one request: a row for each of their rows."""
        batch = parts[0] if len(parts) == 1 else np.concatenate(parts)
        output = await self._tensors.infer(batch, version)
        if len(output) != len(batch):
            raise TritonBusy(f"{self.spec.name} answered {len(output)} rows for {len(batch)}")
        return output


def _own_copy(error: Exception) -> Exception:
    """A new instance of ``error`` with its type, message, attributes, cause and traceback.

    Raising an exception sets its traceback and context; one instance raised in the tasks of
    many callers at once would carry a mix of them. ``__init__`` is not called again: it may
    take other arguments than ``args`` holds (``DependencyUnavailable`` puts the dependency's
    name in front of the message it is given).
    """
    kind = type(error)
    try:
        copy = kind.__new__(kind, *error.args)
        copy.__dict__.update(error.__dict__)
    except Exception:  # noqa: BLE001 - a type that cannot be copied this way is shared as it is
        return error
    copy.__cause__ = error.__cause__
    copy.__context__ = error.__context__
    copy.__suppress_context__ = error.__suppress_context__
    return copy.with_traceback(error.__traceback__)
