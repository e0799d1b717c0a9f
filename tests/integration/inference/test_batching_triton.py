"""The model calls of the messages in flight joined into shared requests, against the wheel's Triton.

Triton's own counters tell what it ran: ``nv_inference_count`` counts rows,
``nv_inference_exec_count`` executions; every caller's answer is compared with the answer to
its image sent alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import httpx
import pytest
from PIL import Image

from aquaflow_devstack.bench.triton_metrics import BatchCounters
from aquaflow_devstack.samples import real_images
from aquaflow_devstack.triton import TritonServer
from aquaflow_inference.app import create_app
from aquaflow_inference.arrivals import Arrivals
from aquaflow_inference.batching import JoinedCalls
from aquaflow_inference.imaging import decode_image
from aquaflow_inference.triton_client import TritonModel
from aquaflow_inference.triton_image_model import TritonImageModel
from aquaflow_shared.contracts import Classification
from aquaflow_shared.topology import INFERENCE_COMPLETED
from tests.integration.inference.conftest import Parts, request_for
from tests.integration.triton.model_forms import CLASSIFIER
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.triton]

PLANKTON = "plankton_classifier"
MESSAGES = 24
# Nothing here is sent for lack of time: a request goes when nothing else is coming, or when full.
NEVER = 30.0


def distinct_particles(count: int) -> dict[str, bytes]:
    """Real FlowCam-like vignettes of different content, by key, each decodable."""
    found: dict[str, bytes] = {}
    seen: set[str] = set()
    for sample in real_images():
        data = sample.path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if sample.corrupt or digest in seen:
            continue
        try:
            decode_image(data, max_pixels=60_000_000)
        except Exception:  # noqa: BLE001, S112 - not an image this worker decodes: another will do
            continue
        seen.add(digest)
        found[sample.key] = data
        if len(found) == count:
            return found
    pytest.fail(f"only {len(found)} distinct decodable images in the sample data")


def assert_same_answers(got: list[Classification], alone: list[Classification]) -> None:
    assert [c.label for c in got] == [c.label for c in alone]
    for joined, single in zip(got, alone, strict=True):
        assert joined.score == pytest.approx(single.score, abs=1e-5)
    assert len({round(c.score, 4) for c in alone}) > 1, "the images must tell their rows apart"


async def counters_after(triton: Any, before: BatchCounters, rows: int, model: str = PLANKTON) -> BatchCounters:
    async def read() -> BatchCounters:
        return BatchCounters.read(triton.metrics_text(), model).since(before)

    return await eventually(read, until=lambda c: c.inferences >= rows, timeout=30)


async def test_concurrent_calls_run_as_one_triton_execution_each_with_its_own_answer(triton: Any) -> None:
    images = [decode_image(data, max_pixels=60_000_000) for data in distinct_particles(MESSAGES).values()]
    tensors = TritonModel(triton.grpc_url, PLANKTON, timeout_seconds=30)
    await tensors.open(ready_timeout=30)
    try:
        assert tensors.batching
        alone = TritonImageModel(tensors)
        before = BatchCounters.read(triton.metrics_text(), PLANKTON)
        single = [(await alone.classify([image]))[0] for image in images]
        one_by_one = await counters_after(triton, before, MESSAGES)

        arrivals = Arrivals()
        joined = TritonImageModel(JoinedCalls(tensors, arrivals, max_rows=32, max_delay=NEVER))
        go = asyncio.Event()

        async def message(image: Image.Image) -> Classification:
            with arrivals.expecting():
                await go.wait()
                (classification,) = await joined.classify([image])
                return classification

        async def on_their_way() -> int:
            return arrivals.expected

        tasks = [asyncio.create_task(message(image)) for image in images]
        await eventually(on_their_way, until=lambda n: n == MESSAGES)
        before = BatchCounters.read(triton.metrics_text(), PLANKTON)
        go.set()
        got = await asyncio.wait_for(asyncio.gather(*tasks), NEVER)
        together = await counters_after(triton, before, MESSAGES)
    finally:
        await tensors.close()
    assert (one_by_one.inferences, one_by_one.executions) == (MESSAGES, MESSAGES)
    assert (together.inferences, together.executions) == (MESSAGES, 1)
    assert_same_answers(got, single)


def worker_metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_a_worker_with_a_backlog_sends_triton_batches_and_every_message_gets_its_own_answer(
    parts: Parts, triton: Any
) -> None:
    particles = distinct_particles(MESSAGES)
    objects = {key: parts.upload(f"joined/{i:02d}.png", data) for i, (key, data) in enumerate(particles.items())}
    tensors = TritonModel(triton.grpc_url, PLANKTON, timeout_seconds=30)
    await tensors.open(ready_timeout=30)
    try:
        alone = TritonImageModel(tensors)
        single = {
            objects[key].key: (await alone.classify([decode_image(data, max_pixels=60_000_000)]))[0]
            for key, data in particles.items()
        }
    finally:
        await tensors.close()
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    settings = parts.settings(PLANKTON, triton.grpc_url, max_in_flight=32, batch_max_delay_seconds=NEVER)
    async with create_app(settings):
        pass  # the worker's queue is declared: the backlog waits in it
    for obj in objects.values():
        await parts.publish(request_for(obj, profile="flowcam", model=PLANKTON))
    before = BatchCounters.read(triton.metrics_text(), PLANKTON)
    app = create_app(settings)
    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker") as client:
        bodies = await eventually(completed.bodies, until=lambda b: len(b) >= MESSAGES, timeout=120)
        metrics = (await client.get("/metrics")).text
    ran = await counters_after(triton, before, MESSAGES)

    by_key = {body["object"]["key"]: Classification.model_validate(body["classification"]) for body in bodies}
    keys = sorted(single)
    assert_same_answers([by_key[key] for key in keys], [single[key] for key in keys])
    assert ran.inferences == MESSAGES
    assert ran.average_batch is not None
    assert ran.average_batch >= 2, f"{ran.inferences:.0f} rows in {ran.executions:.0f} Triton executions"
    # The worker's own account agrees: every row sent, in fewer requests than messages.
    assert worker_metric(metrics, "aquaflow_inference_joined_rows_sum") == MESSAGES
    assert worker_metric(metrics, "aquaflow_inference_joined_rows_count") <= MESSAGES / 2


async def test_the_calls_to_a_model_triton_does_not_batch_go_one_by_one_without_waiting(
    forms_triton: TritonServer,
) -> None:
    """An Ultralytics classifier export: ``max_batch_size: 0``, a fixed batch of one."""
    tensors = TritonModel(forms_triton.grpc_url, CLASSIFIER, timeout_seconds=30)
    await tensors.open(ready_timeout=30)
    arrivals = Arrivals()
    model = TritonImageModel(JoinedCalls(tensors, arrivals, max_rows=32, max_delay=NEVER))
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250)]
    before = BatchCounters.read(forms_triton.metrics_text(), CLASSIFIER)
    try:
        assert not tensors.batching
        with arrivals.expecting(), arrivals.expecting():  # other messages on their way: nobody waits for them
            found = [await asyncio.wait_for(model.classify([Image.new("RGB", (20, 20), c)]), NEVER) for c in colours]
    finally:
        await tensors.close()
    ran = await counters_after(forms_triton, before, len(colours), CLASSIFIER)
    assert [len(f) for f in found] == [1, 1, 1]
    assert (ran.inferences, ran.executions) == (3, 3)
