"""The model calls of the messages a worker holds, joined into shared requests (the asyncio side)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aquaflow_inference.arrivals import Arrivals
from aquaflow_inference.batch_policy import FlushReason
from aquaflow_inference.batching import JoinedCalls
from aquaflow_inference.errors import ModelRejectedInput, TritonBusy, TritonUnavailable, UnknownModel
from aquaflow_inference.postprocess import Floats
from aquaflow_inference.preprocess import Tensor
from aquaflow_inference.settings import InferenceSettings
from aquaflow_inference.triton_client import VersionNotServed
from aquaflow_inference.triton_image_model import TritonImageModel
from aquaflow_shared.contracts import Classification
from tests.unit.inference.support import REPOSITORY, OnnxTensorModel, repository_spec

PLANKTON = "plankton_classifier"
# Long enough that a test waiting on it would hit its own guard: what goes, goes for another reason.
NEVER = 60.0
GUARD = 10.0


class Recorded:
    """A batched model that answers each row with ten times its value, and records its requests.

    Clearing ``release`` holds the requests until it is set again; ``failure`` fails them;
    ``poison`` fails those holding a row of its value, each time with a new error (a bad input).
    """

    def __init__(self, *, batching: bool = True, max_batch_size: int = 32) -> None:
        self.spec = dataclasses.replace(repository_spec(PLANKTON), max_batch_size=max_batch_size)
        self.batching = batching
        self.versions: tuple[str, ...] = ("1", "2")
        self.requests: list[tuple[str | None, int]] = []
        self.failure: Exception | None = None
        self.poison: tuple[float, Callable[[], Exception]] | None = None
        self.release = asyncio.Event()
        self.release.set()
        self.received = asyncio.Event()

    async def refresh_versions(self) -> tuple[str, ...]:
        return self.versions

    async def served_versions(self) -> tuple[str, ...]:
        return self.versions

    async def infer(self, batch: Tensor, version: str | None = None) -> Floats:
        self.requests.append((version, len(batch)))
        self.received.set()
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        if self.poison is not None and np.any(batch == self.poison[0]):
            raise self.poison[1]()
        return np.asarray(batch.reshape(len(batch), -1)[:, :1] * 10, dtype=np.float32)


def row(value: float) -> Tensor:
    return np.full((1, 1, 2, 2), value, dtype=np.float32)


def infer(joined: JoinedCalls, *rows: float, version: str = "1") -> Callable[[], Awaitable[Floats]]:
    """A message's call of the model on ``rows`` (one value each)."""
    return lambda: joined.infer(np.concatenate([row(value) for value in rows]), version)


def classify(model: TritonImageModel, image: Image.Image) -> Callable[[], Awaitable[list[Classification]]]:
    return lambda: model.classify([image])


@dataclass
class Held:
    """A message the worker holds: counted as on its way from the start, calling the model once ``go`` is set."""

    task: asyncio.Task[Any]
    go: asyncio.Event


async def hold(arrivals: Arrivals, call: Callable[[], Awaitable[Any]]) -> Held:
    entered, go = asyncio.Event(), asyncio.Event()

    async def handle() -> Any:
        with arrivals.expecting():
            entered.set()
            await go.wait()
            return await call()

    task = asyncio.create_task(handle())
    await entered.wait()
    return Held(task, go)


async def answers(*held: Held) -> list[Any]:
    for message in held:
        message.go.set()
    return await asyncio.wait_for(asyncio.gather(*(m.task for m in held), return_exceptions=True), GUARD)


def joined_over(
    tensors: Recorded, *, max_rows: int = 32, max_delay: float = NEVER, min_rows: int = 1
) -> tuple[JoinedCalls, Arrivals, list[tuple[int, FlushReason]]]:
    arrivals = Arrivals()
    sent: list[tuple[int, FlushReason]] = []
    joined = JoinedCalls(
        tensors,
        arrivals,
        max_rows=max_rows,
        max_delay=max_delay,
        min_rows=min_rows,
        on_sent=lambda rows, why: sent.append((rows, why)),
    )
    return joined, arrivals, sent


def values(outputs: list[Any]) -> list[list[float]]:
    return [np.asarray(output).reshape(-1).tolist() for output in outputs]


async def test_a_lone_message_on_an_idle_worker_goes_straight_through() -> None:
    tensors = Recorded()
    joined, arrivals, sent = joined_over(tensors)
    message = await hold(arrivals, infer(joined, 3))
    assert values(await answers(message)) == [[30.0]]
    assert (tensors.requests, sent) == ([("1", 1)], [(1, "none_expected")])
    # A call from no message at all has nothing to wait for either.
    assert values([await asyncio.wait_for(joined.infer(row(4), "1"), GUARD)]) == [[40.0]]


async def test_the_calls_of_the_messages_held_go_in_one_request_each_with_its_own_rows() -> None:
    tensors = Recorded()
    joined, arrivals, sent = joined_over(tensors)
    held = [await hold(arrivals, infer(joined, i, i + 0.5)) for i in range(4)]
    assert arrivals.expected == 4
    got = await answers(*held)
    assert tensors.requests == [("1", 8)]
    assert sent == [(8, "none_expected")]
    assert values(got) == [[0.0, 5.0], [10.0, 15.0], [20.0, 25.0], [30.0, 35.0]]


async def test_rows_that_fill_a_request_go_while_other_messages_are_still_coming() -> None:
    tensors = Recorded()
    joined, arrivals, sent = joined_over(tensors, max_rows=2)
    first, second, third = [await hold(arrivals, infer(joined, i)) for i in range(3)]
    assert values(await answers(first, second)) == [[0.0], [10.0]]
    assert (sent, arrivals.expected) == ([(2, "full")], 1)
    assert values(await answers(third)) == [[20.0]]
    assert sent == [(2, "full"), (1, "none_expected")]


async def test_a_worker_holding_too_few_messages_for_a_batch_does_not_make_them_wait() -> None:
    tensors = Recorded()
    joined, arrivals, sent = joined_over(tensors, min_rows=8)
    first, second, third = [await hold(arrivals, infer(joined, i)) for i in range(3)]
    # Three messages could never make a request of 8: each goes as it comes, none waits for the deadline.
    assert values(await answers(first)) == [[0.0]]
    assert (sent, arrivals.expected) == ([(1, "few_expected")], 2)
    assert values(await answers(second, third)) == [[10.0], [20.0]]
    assert [why for _, why in sent] == ["few_expected", "few_expected", "none_expected"]


async def test_requests_never_exceed_the_models_max_batch_size() -> None:
    tensors = Recorded(max_batch_size=4)
    joined, arrivals, sent = joined_over(tensors, max_rows=32)
    held = [await hold(arrivals, infer(joined, i)) for i in range(6)]
    assert values(await answers(*held)) == [[10.0 * i] for i in range(6)]
    assert sent == [(4, "full"), (2, "none_expected")]


async def test_a_call_waits_no_longer_than_max_delay_for_a_message_still_on_its_way() -> None:
    tensors = Recorded()
    joined, arrivals, sent = joined_over(tensors, max_delay=0.05)
    prompt, slow = [await hold(arrivals, infer(joined, i)) for i in range(2)]
    assert values(await answers(prompt)) == [[0.0]]
    assert (sent, arrivals.expected) == ([(1, "deadline")], 1)
    assert values(await answers(slow)) == [[10.0]]


async def test_a_message_that_ends_without_calling_the_model_releases_the_calls_waiting_for_it() -> None:
    tensors = Recorded()
    joined, arrivals, sent = joined_over(tensors)

    async def refused() -> None:
        raise UnknownModel("plankton_classifier version '9' is not served")

    waiting = await hold(arrivals, infer(joined, 1))
    doomed = await hold(arrivals, refused)
    waiting.go.set()
    got = await answers(doomed, waiting)
    assert isinstance(got[0], UnknownModel)
    assert values(got[1:]) == [[10.0]]
    assert sent == [(1, "none_expected")]


async def test_each_version_has_its_own_requests() -> None:
    tensors = Recorded()
    joined, arrivals, _ = joined_over(tensors)
    held = [await hold(arrivals, infer(joined, i, version="12"[i % 2])) for i in range(4)]
    assert values(await answers(*held)) == [[0.0], [10.0], [20.0], [30.0]]
    assert sorted(tensors.requests) == [("1", 2), ("2", 2)]


async def test_an_outage_fails_every_call_in_the_request_with_its_own_copy_of_the_error() -> None:
    tensors = Recorded()
    cause = ConnectionRefusedError("connection refused")
    try:
        raise TritonUnavailable("inference on plankton_classifier: UNAVAILABLE connection refused") from cause
    except TritonUnavailable as outage:
        tensors.failure = outage
    joined, arrivals, _ = joined_over(tensors)
    held = [await hold(arrivals, infer(joined, i)) for i in range(3)]
    got = await answers(*held)
    assert tensors.requests == [("1", 3)]  # not sent again: the server is down for every call
    assert all(type(error) is TritonUnavailable for error in got)
    assert {str(error) for error in got} == {str(tensors.failure)}
    assert all((e.dependency, e.reason, e.__cause__) == ("triton", tensors.failure.reason, cause) for e in got)
    # Raised in each caller's task, one instance would collect every task's traceback.
    assert len({id(error) for error in [*got, tensors.failure]}) == 4


@pytest.mark.parametrize(
    "bad_input",
    [
        lambda: ModelRejectedInput("inference on plankton_classifier: Triton refused the input: NaN"),
        lambda: TritonBusy("inference on plankton_classifier: INTERNAL onnxruntime failed"),
    ],
    ids=["refused", "backend_failed"],
)
async def test_a_bad_input_fails_only_its_own_message(bad_input: Callable[[], Exception]) -> None:
    """The joined request fails; each call sent again alone: the innocent are answered, not dead-lettered or retried."""
    tensors = Recorded()
    tensors.poison = (1.0, bad_input)
    joined, arrivals, _ = joined_over(tensors)
    held = [await hold(arrivals, infer(joined, i, i + 0.5)) for i in range(3)]
    first, bad, last = await answers(*held)
    assert values([first, last]) == [[0.0, 5.0], [20.0, 25.0]]
    assert type(bad) is type(bad_input())
    assert tensors.requests[0] == ("1", 6)
    assert sorted(tensors.requests[1:]) == [("1", 2)] * 3


async def test_a_short_answer_is_asked_again_call_by_call() -> None:
    tensors = Recorded()
    joined, arrivals, _ = joined_over(tensors)
    answer = tensors.infer

    async def one_row_short(batch: Tensor, version: str | None = None) -> Floats:
        output = await answer(batch, version)
        return output[:-1] if len(batch) > 1 else output

    tensors.infer = one_row_short  # type: ignore[method-assign]
    held = [await hold(arrivals, infer(joined, i)) for i in range(2)]
    assert values(await answers(*held)) == [[0.0], [10.0]]
    assert tensors.requests == [("1", 2), ("1", 1), ("1", 1)]


async def test_calls_that_cannot_be_stacked_are_sent_alone() -> None:
    tensors = Recorded()
    joined, arrivals, _ = joined_over(tensors)
    small = await hold(arrivals, infer(joined, 1))
    large = await hold(arrivals, lambda: joined.infer(np.full((1, 1, 3, 3), 2.0, dtype=np.float32), "1"))
    assert values(await answers(small, large)) == [[10.0], [20.0]]
    assert sorted(tensors.requests) == [("1", 1), ("1", 1)]


async def test_a_request_cancelled_under_way_cancels_its_callers() -> None:
    tensors = Recorded()
    tensors.failure = asyncio.CancelledError()  # type: ignore[assignment]  # as the worker stopping does
    joined, arrivals, _ = joined_over(tensors)
    held = [await hold(arrivals, infer(joined, i)) for i in range(2)]
    got = await answers(*held)
    assert all(isinstance(error, asyncio.CancelledError) for error in got)
    assert tensors.requests == [("1", 2)]


class Unsliceable:
    """An answer of the right length whose rows cannot be taken: a fault past the model's call."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, rows: slice) -> Floats:
        raise IndexError("no rows")


async def test_a_fault_in_handing_out_the_answer_still_settles_every_caller() -> None:
    tensors = Recorded()
    joined, arrivals, _ = joined_over(tensors)

    async def unsliceable(batch: Tensor, version: str | None = None) -> Floats:
        return Unsliceable()  # type: ignore[return-value]

    tensors.infer = unsliceable  # type: ignore[method-assign]
    held = [await hold(arrivals, infer(joined, i)) for i in range(2)]
    first, second = await answers(*held)
    assert type(first) is type(second) is IndexError
    assert first is not second


async def test_each_caller_still_judges_the_error_as_it_would_alone() -> None:
    """A version gone mid-request: the request that named it is refused, one that took the default is retried."""
    tensors = Recorded()
    joined, arrivals, _ = joined_over(tensors)
    asked = await TritonImageModel(joined).version("1")
    default = TritonImageModel(joined, "1")  # "1" was the default when this request came
    tensors.versions = ("2",)
    tensors.failure = VersionNotServed("Request for unknown model: 'plankton_classifier' version 1 is not found")
    particle = Image.new("L", (8, 8), 200)
    held = [await hold(arrivals, classify(m, particle)) for m in (asked, default)]
    refused, retried = await answers(*held)
    assert tensors.requests == [("1", 2)]
    assert isinstance(refused, UnknownModel)
    assert "version '1' is no longer served" in str(refused)
    assert isinstance(retried, VersionNotServed)


async def test_a_caller_cancelled_while_waiting_is_left_out_of_the_request() -> None:
    tensors = Recorded()
    joined, arrivals, _ = joined_over(tensors)
    first, gone, last = [await hold(arrivals, infer(joined, i)) for i in range(3)]
    first.go.set()
    gone.go.set()
    await until(lambda: arrivals.expected == 1)  # both reached the model: they wait for the last
    gone.task.cancel()
    got = await answers(first, last)
    assert values(got) == [[0.0], [20.0]]
    assert tensors.requests == [("1", 2)]
    assert gone.task.cancelled()


async def test_a_caller_cancelled_while_its_request_runs_does_not_disturb_the_others() -> None:
    tensors = Recorded()
    tensors.release.clear()
    joined, arrivals, _ = joined_over(tensors)
    gone, kept = [await hold(arrivals, infer(joined, i)) for i in range(2)]
    gone.go.set()
    kept.go.set()
    await asyncio.wait_for(tensors.received.wait(), GUARD)
    gone.task.cancel()
    tensors.release.set()
    assert values(await answers(kept)) == [[10.0]]
    assert tensors.requests == [("1", 2)]
    assert gone.task.cancelled()


async def test_calls_to_a_model_triton_does_not_batch_go_one_by_one_at_once() -> None:
    tensors = Recorded(batching=False)
    joined, arrivals, sent = joined_over(tensors)
    held = [await hold(arrivals, infer(joined, i)) for i in range(3)]
    held[0].go.set()
    assert values([await asyncio.wait_for(held[0].task, GUARD)]) == [[0.0]]  # not kept for the others
    assert values(await answers(*held[1:])) == [[10.0], [20.0]]
    assert (tensors.requests, sent) == ([("1", 1)] * 3, [])


async def test_a_limit_of_one_row_joins_nothing() -> None:
    tensors = Recorded()
    joined, arrivals, _ = joined_over(tensors, max_rows=1)
    held = [await hold(arrivals, infer(joined, i)) for i in range(2)]
    held[0].go.set()
    assert values([await asyncio.wait_for(held[0].task, GUARD)]) == [[0.0]]
    assert values(await answers(held[1])) == [[10.0]]
    assert tensors.requests == [("1", 1)] * 2


class BatchedOnnx(OnnxTensorModel):
    """The plankton classifier in-process, batched as Triton batches it (max_batch_size 32)."""

    batching = True


async def test_a_real_models_answers_are_the_same_joined_as_alone() -> None:
    onnx = BatchedOnnx(repository_spec(PLANKTON), {"1": REPOSITORY / PLANKTON / "1" / "model.onnx"})
    arrivals = Arrivals()
    joined = TritonImageModel(JoinedCalls(onnx, arrivals, max_rows=32, max_delay=NEVER))
    alone = TritonImageModel(onnx)
    rng = np.random.default_rng(3)
    particles = [Image.fromarray(rng.integers(0, 256, (24 + i, 30), dtype=np.uint8)) for i in range(6)]
    expected = [(await alone.classify([p]))[0] for p in particles]
    onnx.calls.clear()
    held = [await hold(arrivals, classify(joined, p)) for p in particles]
    got = await answers(*held)
    assert onnx.calls == [("1", 6)]
    assert [labels for (labels,) in got] == expected


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until ``condition`` holds (each step a bare yield, a bounded number of them)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    pytest.fail("the condition never held")


def test_the_worker_settings_name_how_calls_are_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQUAFLOW_INFERENCE_MODEL", PLANKTON)
    defaults = InferenceSettings()  # type: ignore[call-arg]
    assert (defaults.batch_max_size, defaults.batch_min_size, defaults.batch_max_delay_seconds) == (32, 8, 0.5)
    monkeypatch.setenv("AQUAFLOW_INFERENCE_BATCH_MAX_SIZE", "8")
    monkeypatch.setenv("AQUAFLOW_INFERENCE_BATCH_MIN_SIZE", "4")
    monkeypatch.setenv("AQUAFLOW_INFERENCE_BATCH_MAX_DELAY_SECONDS", "0.05")
    settings = InferenceSettings()  # type: ignore[call-arg]
    assert (settings.batch_max_size, settings.batch_min_size, settings.batch_max_delay_seconds) == (8, 4, 0.05)
