"""Every decodable real plankton image goes through the classifier served by the wheel's Triton."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from aquaflow_devstack.samples import real_images
from aquaflow_inference.errors import CorruptImage, NotAnImage
from aquaflow_inference.imaging import decode_image
from aquaflow_inference.pipeline import run_inference
from aquaflow_inference.triton_client import TritonModel
from aquaflow_inference.triton_image_model import TritonImageModel
from aquaflow_shared.contracts import ObjectRef
from tests.integration.inference.conftest import request_for

pytestmark = [pytest.mark.integration, pytest.mark.triton]


@pytest.mark.parametrize("profile", ["flowcam", "zooscan"])
async def test_the_classifier_handles_every_decodable_real_image(triton: Any, profile: str) -> None:
    tensors = TritonModel(triton.grpc_url, "plankton_classifier", timeout_seconds=30)
    await tensors.open(ready_timeout=30)
    model = TritonImageModel(tensors)
    labels: Counter[str] = Counter()
    refused: list[str] = []
    try:
        for sample in real_images():
            try:
                image = decode_image(sample.path.read_bytes(), max_pixels=60_000_000)
            except (CorruptImage, NotAnImage):
                refused.append(sample.key)
                continue
            obj = ObjectRef(bucket="plankton-flowcam", key=sample.key, etag="e")
            done = await run_inference(
                request_for(obj, profile=profile, model="plankton_classifier"), image, model, max_regions=50
            )
            if profile == "flowcam":
                assert done.classification is not None
                labels[done.classification.label] += 1
            else:
                assert done.regions
                labels.update(r.classification.label for r in done.regions if r.classification)
    finally:
        await tensors.close()
    assert sorted(refused) == sorted(s.key for s in real_images() if s.corrupt)
    assert sum(labels.values()) >= len(real_images()) - len(refused)
    assert set(labels) <= set(model.info.labels)
