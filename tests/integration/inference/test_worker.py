"""The inference worker on real RabbitMQ, moto S3 and the wheel's Triton."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from aquaflow_devstack.s3 import S3Server
from aquaflow_devstack.samples import real_images
from aquaflow_devstack.triton import start_triton
from PIL import Image

from aquaflow_inference.app import create_app
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER
from aquaflow_shared.settings import BrokerSettings, S3Settings
from aquaflow_shared.topology import INFERENCE_COMPLETED, Topology, inference_requested
from tests.integration.inference.conftest import request_for, upload, worker_settings
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = [pytest.mark.integration, pytest.mark.triton]

REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"


def sample(prefix: str) -> Any:
    return next(s for s in real_images() if s.key.startswith(prefix) and not s.corrupt)


def metric(text: str, name: str, model: str) -> float:
    match = re.search(rf'^{name}{{model="{model}",version="1"}} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def publish_request(rabbit: RabbitAdmin, topology: Topology, request: Any) -> None:
    await rabbit.publish(
        topology.events.name,
        inference_requested(request.model),
        request.model_dump_json().encode(),
        message_id=request.message_id,
    )


async def test_classifies_segments_and_dead_letters_what_cannot_be_read(
    broker_settings: BrokerSettings,
    s3_settings: S3Settings,
    s3_server: S3Server,
    bucket: str,
    rabbit: RabbitAdmin,
    triton: Any,
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    completed = await rabbit.tap(topology.events.name, INFERENCE_COMPLETED)
    flowcam = sample("images/")
    zooscan = sample("import_test/")
    corrupt = [s for s in real_images() if s.corrupt]
    objects = {s.key: upload(s3_server, bucket, s.key, s.path.read_bytes()) for s in [flowcam, zooscan, *corrupt]}
    settings = worker_settings("plankton_classifier", broker_settings, s3_settings, triton.grpc_url)
    async with create_app(settings):
        await publish_request(
            rabbit, topology, request_for(objects[flowcam.key], profile="flowcam", model="plankton_classifier")
        )
        await publish_request(
            rabbit, topology, request_for(objects[zooscan.key], profile="zooscan", model="plankton_classifier")
        )
        for s in corrupt:
            await publish_request(
                rabbit, topology, request_for(objects[s.key], profile="flowcam", model="plankton_classifier")
            )
        # Routed to this worker's queue but naming another model, and an unusable profile.
        wrong_model = request_for(objects[flowcam.key], profile="flowcam", model="fish_detector")
        await rabbit.publish(
            topology.events.name, inference_requested("plankton_classifier"), wrong_model.model_dump_json().encode()
        )
        await publish_request(
            rabbit, topology, request_for(objects[flowcam.key], profile="obsea", model="plankton_classifier")
        )

        bodies = await eventually(completed.bodies, until=lambda b: len(b) >= 2, timeout=60)
        dead = await eventually(
            lambda: rabbit.queue_messages(topology.dead_letter_queue.name),
            until=lambda m: len(m) >= len(corrupt) + 2,
            timeout=60,
        )

    labels = set((REPOSITORY / "plankton_classifier" / "labels.txt").read_text().split())
    by_profile = {b["profile"]: b for b in bodies}
    assert by_profile["flowcam"]["classification"]["label"] in labels
    assert by_profile["flowcam"]["object"]["key"] == flowcam.key
    regions = by_profile["zooscan"]["regions"]
    assert regions, "a ZooScan vignette has at least one region"
    assert all(r["classification"]["label"] in labels for r in regions)
    assert regions[0]["features"]["object_area"] > 0
    assert sum(by_profile["zooscan"]["counts"].values()) == len(regions)
    codes = sorted(str(m.headers[CODE_HEADER]) for m in dead)
    assert codes == sorted(["corrupt_image"] * 3 + ["not_an_image", "unknown_model", "profile_mismatch"])
    reasons = " | ".join(str(m.headers[REASON_HEADER]) for m in dead)
    assert "fish_detector" in reasons
    assert "corrupt or truncated" in reasons


async def test_many_requests_in_flight_let_triton_form_batches(
    broker_settings: BrokerSettings,
    s3_settings: S3Settings,
    s3_server: S3Server,
    bucket: str,
    rabbit: RabbitAdmin,
    triton: Any,
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    completed = await rabbit.tap(topology.events.name, INFERENCE_COMPLETED)
    image = sample("images/")
    objects = [upload(s3_server, bucket, f"batch/{i:03d}.png", image.path.read_bytes()) for i in range(64)]
    before = triton.metrics_text()
    settings = worker_settings("plankton_classifier", broker_settings, s3_settings, triton.grpc_url, max_in_flight=32)
    async with create_app(settings):
        for obj in objects:
            await publish_request(rabbit, topology, request_for(obj, profile="flowcam", model="plankton_classifier"))
        await eventually(completed.drain, until=lambda m: len(m) >= 64, timeout=120)
    after = triton.metrics_text()
    requests = metric(after, "nv_inference_count", "plankton_classifier") - metric(
        before, "nv_inference_count", "plankton_classifier"
    )
    executions = metric(after, "nv_inference_exec_count", "plankton_classifier") - metric(
        before, "nv_inference_exec_count", "plankton_classifier"
    )
    assert requests >= 64
    assert requests / executions > 1.0, f"{requests} requests in {executions} executions: no batching"


async def test_triton_down_is_retried_not_dead_lettered(
    broker_settings: BrokerSettings,
    s3_settings: S3Settings,
    s3_server: S3Server,
    bucket: str,
    rabbit: RabbitAdmin,
    tmp_path: Path,
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    completed = await rabbit.tap(topology.events.name, INFERENCE_COMPLETED)
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 60), 200, dtype=np.uint8)).save(buffer, format="PNG")
    obj = upload(s3_server, bucket, "outage/particle.png", buffer.getvalue())
    patient = broker_settings.model_copy(
        update={
            "max_attempts": 200,
            "delivery_limit": 200,
            "retry_backoff_seconds": 0.05,
            "retry_backoff_max_seconds": 0.5,
        }
    )
    own = start_triton(REPOSITORY, tmp_path / "triton")
    ports = (own.grpc_port, own.http_port, own.metrics_port)
    app = create_app(worker_settings("plankton_classifier", patient, s3_settings, own.grpc_url))
    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker") as client:
        own.stop()
        await publish_request(rabbit, topology, request_for(obj, profile="flowcam", model="plankton_classifier"))

        async def retried() -> float:
            text = (await client.get("/metrics")).text
            match = re.search(
                r'aquaflow_messages_total\{outcome="retried",stage="inference.plankton_classifier"\} (\S+)', text
            )
            return float(match.group(1)) if match else 0.0

        await eventually(retried, until=lambda n: n >= 2, timeout=60)
        assert await rabbit.queue_messages(topology.dead_letter_queue.name) == []
        own = start_triton(
            REPOSITORY, tmp_path / "triton", grpc_port=ports[0], http_port=ports[1], metrics_port=ports[2]
        )
        try:
            bodies = await eventually(completed.bodies, until=lambda b: len(b) >= 1, timeout=90)
        finally:
            own.stop()
    assert bodies[0]["object"]["key"] == "outage/particle.png"
    assert await rabbit.queue_messages(topology.dead_letter_queue.name) == []
