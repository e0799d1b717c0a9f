"""An inference worker whose model is served by DEEPaaS, on real RabbitMQ, S3 and deepaas-run."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from aquaflow_devstack.deepaas import DeepaasServer, start_deepaas
from aquaflow_devstack.ports import free_port
from aquaflow_devstack.samples import Sample, real_images
from aquaflow_inference.app import create_app
from aquaflow_inference.imaging import decode_image
from aquaflow_inference.settings import InferenceSettings
from aquaflow_shared.delivery import CODE_HEADER
from aquaflow_shared.topology import INFERENCE_COMPLETED
from tests.integration.deepaas.conftest import DECLARATIONS, MODULE
from tests.integration.deepaas.test_deepaas_model import MODEL_DIR, onnxruntime_probabilities
from tests.integration.inference.conftest import Parts, request_for
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration]


def sample(prefix: str) -> Sample:
    return next(s for s in real_images() if s.key.startswith(prefix) and not s.corrupt)


def deepaas_settings(parts: Parts, url: str, **overrides: Any) -> InferenceSettings:
    return parts.settings(
        MODULE, "127.0.0.1:1", backend="deepaas", deepaas_url=url, deepaas_config_dir=DECLARATIONS, **overrides
    )


async def test_a_deepaas_worker_classifies_from_the_queue_and_publishes_the_result(
    parts: Parts, deepaas: DeepaasServer
) -> None:
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    flowcam, zooscan = sample("images/"), sample("import_test/")
    corrupt = next(s for s in real_images() if s.corrupt)
    objects = {s.key: parts.upload(s.key, s.path.read_bytes()) for s in (flowcam, zooscan, corrupt)}
    async with create_app(deepaas_settings(parts, deepaas.url)):
        await parts.publish(request_for(objects[flowcam.key], profile="flowcam", model=MODULE))
        await parts.publish(request_for(objects[zooscan.key], profile="zooscan", model=MODULE))
        await parts.publish(request_for(objects[corrupt.key], profile="flowcam", model=MODULE))
        bodies = await eventually(completed.bodies, until=lambda b: len(b) >= 2, timeout=60)
        dead = await eventually(
            lambda: parts.rabbit.queue_messages(parts.topology.dead_letter_queue.name), until=lambda m: len(m) >= 1
        )

    labels = (MODEL_DIR / "labels.txt").read_text().split()
    by_profile = {b["profile"]: b for b in bodies}
    particle = by_profile["flowcam"]
    (expected,) = onnxruntime_probabilities([decode_image(flowcam.path.read_bytes(), max_pixels=60_000_000)])
    assert particle["classification"]["label"] == labels[int(np.argmax(expected))]
    assert np.allclose([particle["classification"]["scores"][label] for label in labels], expected, atol=1e-6)
    assert particle["model_version"] == "1"
    regions = by_profile["zooscan"]["regions"]
    assert regions
    assert all(r["classification"]["label"] in labels for r in regions)
    assert sum(by_profile["zooscan"]["counts"].values()) == len(regions)
    assert [str(m.headers[CODE_HEADER]) for m in dead] == ["corrupt_image"]


async def test_a_worker_started_while_deepaas_is_down_waits_paused_and_spends_no_attempt(
    parts: Parts, deepaas_venv: Path, tmp_path: Path
) -> None:
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    particle = Image.fromarray(np.full((40, 60), 200, dtype=np.uint8))
    buffer = io.BytesIO()
    particle.save(buffer, format="PNG")
    obj = parts.upload("outage/particle.png", buffer.getvalue())
    # One attempt only: were the outage counted against the message, it would be a dead letter.
    strict = parts.broker.model_copy(
        update={"max_attempts": 1, "outage_probe_seconds": 0.2, "outage_probe_max_seconds": 1.0}
    )
    port = free_port()
    app = create_app(deepaas_settings(parts, f"http://127.0.0.1:{port}", broker=strict))
    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker") as client:
        await parts.publish(request_for(obj, profile="flowcam", model=MODULE))

        async def metrics() -> str:
            return (await client.get("/metrics")).text

        paused = await eventually(
            metrics,
            until=lambda t: f'aquaflow_consumer_paused{{dependency="deepaas",stage="inference.{MODULE}"}} 1.0' in t,
        )
        health = await client.get("/health")
        own = start_deepaas(tmp_path, venv=deepaas_venv, port=port)
        try:
            bodies = await eventually(completed.bodies, until=lambda b: len(b) >= 1, timeout=60)
        finally:
            own.stop()
    assert health.status_code == 503
    assert health.json()[f"consuming.inference.{MODULE}"] is False
    assert health.json()["deepaas_model"] is False
    assert "retried" not in re.findall(r'outcome="(\w+)"', paused)
    assert bodies[0]["object"]["key"] == "outage/particle.png"
    assert bodies[0]["classification"]["label"] in (MODEL_DIR / "labels.txt").read_text().split()
    assert await parts.rabbit.queue_messages(parts.topology.dead_letter_queue.name) == []
