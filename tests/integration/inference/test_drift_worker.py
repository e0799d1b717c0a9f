"""The worker on real RabbitMQ, S3 and the wheel's Triton exports drift of what its model sees."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from aquaflow_inference.app import create_app
from aquaflow_inference.drift_settings import DriftSettings
from aquaflow_shared.topology import INFERENCE_COMPLETED
from tests.integration.inference.conftest import Parts, request_for
from tests.support.polling import eventually
from training.drift_reference import validation_images

pytestmark = [pytest.mark.integration, pytest.mark.triton]

REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"
PLANKTON = "plankton_classifier"
UPLOADS = 30


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def drift_metrics(text: str) -> dict[tuple[str, str], float]:
    found = re.findall(rf'^(aquaflow_model_drift_\w+){{model="{PLANKTON}",signal="(\w+)"}} (\S+)$', text, re.M)
    return {(name, signal): float(value) for name, signal, value in found}


async def test_darker_uploads_raise_brightness_drift_on_metrics(parts: Parts, triton: Any) -> None:
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    darker = [Image.eval(v, lambda g: int(g * 0.6)) for v in validation_images(PLANKTON, UPLOADS, seed=4646)]
    objects = [parts.upload(f"drift/{i:03d}.png", png(image)) for i, image in enumerate(darker)]
    drift = DriftSettings(model_repository=REPOSITORY, window_size=30, min_observations=20, check_every=10)
    app = create_app(parts.settings(PLANKTON, triton.grpc_url, drift=drift))
    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker") as client:
        before = drift_metrics((await client.get("/metrics")).text)
        for obj in objects:
            await parts.publish(request_for(obj, profile="flowcam", model=PLANKTON))
        await eventually(completed.bodies, until=lambda b: len(b) >= UPLOADS, timeout=120)
        after = await eventually(
            lambda: client.get("/metrics"),
            until=lambda r: ("aquaflow_model_drift_observations_total", "brightness") in drift_metrics(r.text),
        )
    metrics = drift_metrics(after.text)
    # Exported from the start, before any test has run.
    assert before[("aquaflow_model_drift_detected", "brightness")] == 0.0
    assert metrics[("aquaflow_model_drift_observations_total", "brightness")] == UPLOADS
    assert metrics[("aquaflow_model_drift_detected", "brightness")] == 1.0
    assert metrics[("aquaflow_model_drift_score", "brightness")] > 0.5
    assert metrics[("aquaflow_model_drift_p_value", "brightness")] < 1e-4
    assert metrics[("aquaflow_model_drift_detected", "object_size")] == 0.0
