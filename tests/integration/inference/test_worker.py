"""The inference worker on real RabbitMQ, moto S3 and the wheel's Triton."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from aquaflow_devstack.samples import Sample, real_images
from aquaflow_devstack.triton import start_triton
from aquaflow_inference.app import create_app
from aquaflow_shared.delivery import ATTEMPTS_HEADER, CODE_HEADER, REASON_HEADER
from aquaflow_shared.topology import INFERENCE_COMPLETED
from tests.integration.inference.conftest import Parts, request_for
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.triton]

REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"
PLANKTON = "plankton_classifier"


def sample(prefix: str) -> Sample:
    return next(s for s in real_images() if s.key.startswith(prefix) and not s.corrupt)


def png(pixels: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def triton_metric(text: str, name: str, model: str) -> float:
    match = re.search(rf'^{name}{{model="{model}",version="1"}} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_classifies_segments_and_dead_letters_what_cannot_be_read(parts: Parts, triton: Any) -> None:
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    flowcam, zooscan = sample("images/"), sample("import_test/")
    corrupt = [s for s in real_images() if s.corrupt]
    objects = {s.key: parts.upload(s.key, s.path.read_bytes()) for s in [flowcam, zooscan, *corrupt]}
    async with create_app(parts.settings(PLANKTON, triton.grpc_url)):
        await parts.publish(request_for(objects[flowcam.key], profile="flowcam", model=PLANKTON))
        await parts.publish(request_for(objects[zooscan.key], profile="zooscan", model=PLANKTON))
        for s in corrupt:
            await parts.publish(request_for(objects[s.key], profile="flowcam", model=PLANKTON))
        # Routed to this worker's queue but naming another model; then a profile this model cannot serve.
        await parts.publish(
            request_for(objects[flowcam.key], profile="flowcam", model="fish_detector"), routed_to=PLANKTON
        )
        await parts.publish(request_for(objects[flowcam.key], profile="obsea", model=PLANKTON))

        bodies = await eventually(completed.bodies, until=lambda b: len(b) >= 2, timeout=60)
        dead = await eventually(
            lambda: parts.rabbit.queue_messages(parts.topology.dead_letter_queue.name),
            until=lambda m: len(m) >= len(corrupt) + 2,
            timeout=60,
        )

    labels = set((REPOSITORY / PLANKTON / "labels.txt").read_text().split())
    by_profile = {b["profile"]: b for b in bodies}
    assert by_profile["flowcam"]["classification"]["label"] in labels
    assert by_profile["flowcam"]["object"]["key"] == flowcam.key
    assert by_profile["flowcam"]["correlation_id"] == objects[flowcam.key].upload_id()
    regions = by_profile["zooscan"]["regions"]
    assert regions, "a ZooScan vignette has at least one region"
    assert all(r["classification"]["label"] in labels for r in regions)
    assert regions[0]["features"]["object_area"] > 0
    assert sum(by_profile["zooscan"]["counts"].values()) == len(regions)
    codes = sorted(str(m.headers[CODE_HEADER]) for m in dead)
    assert codes == sorted(["corrupt_image"] * 3 + ["not_an_image", "unknown_model", "profile_mismatch"])
    reasons = " | ".join(str(m.headers[REASON_HEADER]) for m in dead)
    assert "serves 'plankton_classifier', not 'fish_detector'" in reasons
    assert "corrupt or truncated" in reasons
    assert all(m.headers[ATTEMPTS_HEADER] == 1 for m in dead), "bad input is dead-lettered at once, not retried"


async def test_a_request_runs_the_version_it_names_and_one_nobody_serves_is_dead_lettered(
    parts: Parts, triton: Any
) -> None:
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    flowcam = sample("images/")
    obj = parts.upload("versions/particle.png", flowcam.path.read_bytes())
    plain = request_for(obj, profile="flowcam", model=PLANKTON)
    pinned = plain.model_copy(update={"model_version": "1", "message_id": "v1" + plain.message_id[2:]})
    unknown = plain.model_copy(update={"model_version": "7", "message_id": "v7" + plain.message_id[2:]})
    async with create_app(parts.settings(PLANKTON, triton.grpc_url)):
        await parts.publish(pinned)
        await parts.publish(unknown)
        await parts.publish(plain)
        bodies = await eventually(completed.bodies, until=lambda b: len(b) >= 2, timeout=60)
        (dead,) = await eventually(
            lambda: parts.rabbit.queue_messages(parts.topology.dead_letter_queue.name), until=lambda m: len(m) >= 1
        )
    by_request = {b["requested_version"]: b for b in bodies}
    assert (by_request["1"]["model_version"], by_request[None]["model_version"]) == ("1", "1")
    assert by_request["1"]["message_id"] != by_request[None]["message_id"]  # two results, not a redelivery
    assert by_request["1"]["classification"] == by_request[None]["classification"]
    assert dead.headers[CODE_HEADER] == "unknown_model"
    assert "plankton_classifier version '7' is not served; Triton serves ['1']" in str(dead.headers[REASON_HEADER])


async def test_detection_and_tiles_workers(parts: Parts, triton: Any) -> None:
    """fish_detector and litter_tiles through Triton: the YOLOv8 output and the tile model's contract hold."""
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    frame = np.zeros((240, 400, 3), dtype=np.uint8)
    frame[:] = (20, 90, 110)  # open water
    drone = np.zeros((300, 260, 3), dtype=np.uint8)
    drone[:] = (30, 80, 120)
    scene = parts.upload("obsea/frame.png", png(frame))
    survey = parts.upload("litter/survey.png", png(drone))
    async with (
        create_app(parts.settings("fish_detector", triton.grpc_url)),
        create_app(parts.settings("litter_tiles", triton.grpc_url)),
    ):
        await parts.publish(request_for(scene, profile="obsea", model="fish_detector"))
        await parts.publish(request_for(survey, profile="litter", model="litter_tiles"))
        bodies = await eventually(completed.bodies, until=lambda b: len(b) >= 2, timeout=60)
    by_profile = {b["profile"]: b for b in bodies}
    obsea = by_profile["obsea"]
    assert (obsea["image_width"], obsea["image_height"]) == (400, 240)
    assert sum(obsea["counts"].values()) == len(obsea["detections"])
    for detection in obsea["detections"]:
        box = detection["box"]
        assert 0 <= box["x_min"] < box["x_max"] <= 400
        assert 0 <= box["y_min"] < box["y_max"] <= 240
    litter = by_profile["litter"]
    # 128-pixel tiles: 3 columns (128, 128, 4) by 3 rows (128, 128, 44).
    assert len(litter["regions"]) == 9
    assert litter["regions"][-1]["box"] == {"x_min": 256, "y_min": 256, "x_max": 260, "y_max": 300}
    assert sum(litter["counts"].values()) == 9
    assert 0.0 <= litter["measures"]["litter_fraction"] <= 1.0


async def test_many_requests_in_flight_let_triton_form_batches(parts: Parts, triton: Any) -> None:
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    image = sample("images/").path.read_bytes()
    objects = [parts.upload(f"batch/{i:03d}.png", image) for i in range(64)]
    before = triton.metrics_text()
    async with create_app(parts.settings(PLANKTON, triton.grpc_url, max_in_flight=32)):
        for obj in objects:
            await parts.publish(request_for(obj, profile="flowcam", model=PLANKTON))
        await eventually(completed.drain, until=lambda m: len(m) >= 64, timeout=120)
    after = triton.metrics_text()
    requests = triton_metric(after, "nv_inference_count", PLANKTON) - triton_metric(
        before, "nv_inference_count", PLANKTON
    )
    executions = triton_metric(after, "nv_inference_exec_count", PLANKTON) - triton_metric(
        before, "nv_inference_exec_count", PLANKTON
    )
    assert requests >= 64
    assert requests / executions > 1.0, f"{requests} requests in {executions} executions: no batching"


async def test_a_triton_outage_pauses_the_worker_without_spending_attempts(parts: Parts, tmp_path: Path) -> None:
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    obj = parts.upload("outage/particle.png", png(np.full((40, 60), 200, dtype=np.uint8)))
    # One attempt only: were the outage counted against the message, it would be a dead letter.
    strict = parts.broker.model_copy(
        update={"max_attempts": 1, "outage_probe_seconds": 0.2, "outage_probe_max_seconds": 1.0}
    )
    own = start_triton(REPOSITORY, tmp_path / "triton")
    ports = (own.grpc_port, own.http_port, own.metrics_port)
    app = create_app(parts.settings(PLANKTON, own.grpc_url, broker=strict))
    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker") as client:
        own.stop()  # the worker started against a ready model; now its port is closed
        await parts.publish(request_for(obj, profile="flowcam", model=PLANKTON))

        async def paused() -> str:
            return (await client.get("/metrics")).text

        metrics = await eventually(
            paused,
            until=lambda t: f'aquaflow_consumer_paused{{dependency="triton",stage="inference.{PLANKTON}"}} 1.0' in t,
        )
        health = await client.get("/health")
        assert await parts.rabbit.queue_messages(parts.topology.dead_letter_queue.name) == []
        own = start_triton(
            REPOSITORY, tmp_path / "triton", grpc_port=ports[0], http_port=ports[1], metrics_port=ports[2]
        )
        try:
            bodies = await eventually(completed.bodies, until=lambda b: len(b) >= 1, timeout=90)
        finally:
            own.stop()
    assert health.status_code == 503
    assert health.json()[f"consuming.inference.{PLANKTON}"] is False
    assert re.search(rf'aquaflow_messages_total\{{outcome="requeued",stage="inference.{PLANKTON}"\}} [1-9]', metrics)
    assert "retried" not in re.findall(r'outcome="(\w+)"', metrics)
    assert bodies[0]["object"]["key"] == "outage/particle.png"
    assert await parts.rabbit.queue_messages(parts.topology.dead_letter_queue.name) == []
