"""The inference use case: one request and its image in, one ``InferenceCompleted`` out.

Pure apart from the model call, which goes through the small ``ModelRunner``
Protocol (Triton in production, anything with the same shape in tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
from PIL import Image

from aquaflow_inference.errors import ProfileMismatch, UnknownModel
from aquaflow_inference.postprocess import Floats, classify, count_labels, decode_yolov8
from aquaflow_inference.preprocess import Tensor, batch_inputs, to_model_input
from aquaflow_inference.segmentation import segment
from aquaflow_inference.spec import ModelSpec, Task
from aquaflow_inference.tiling import tiles
from aquaflow_shared.contracts import (
    BoundingBox,
    Classification,
    Detection,
    InferenceCompleted,
    InferenceRequested,
    Region,
    derive_id,
)

PROFILE_TASKS: dict[str, Task] = {
    "flowcam": "classification",
    "zooscan": "classification",
    "litter": "classification",
    "obsea": "detection",
}


class ModelRunner(Protocol):
    @property
    def spec(self) -> ModelSpec: ...

    async def infer(self, batch: Tensor) -> Floats:
        """Run a batch ``[N, C, H, W]`` and return the output ``[N, ...]``."""


def check_request(request: InferenceRequested, spec: ModelSpec) -> None:
    if request.model != spec.name:
        raise UnknownModel(f"this worker serves {spec.name!r}, not {request.model!r}")
    task = PROFILE_TASKS.get(request.profile)
    if task is None:
        raise ProfileMismatch(f"unknown pipeline profile {request.profile!r}; known: {sorted(PROFILE_TASKS)}")
    if task != spec.task:
        raise ProfileMismatch(f"profile {request.profile!r} needs a {task} model; {spec.name} is {spec.task}")
    if request.profile == "litter" and spec.tile_size is None:
        raise ProfileMismatch(f"profile 'litter' needs a tile model; {spec.name} has no aquaflow.tile_size")


async def run_inference(
    request: InferenceRequested,
    image: Image.Image,
    runner: ModelRunner,
    *,
    max_regions: int,
    clock: Callable[[], float] = time.perf_counter,
) -> InferenceCompleted:
    spec = runner.spec
    check_request(request, spec)
    started = clock()
    classification: Classification | None = None
    detections: list[Detection] = []
    regions: list[Region] = []
    counts: dict[str, int] = {}
    if request.profile == "flowcam":
        classification = await _classify_one(image, runner)
    elif request.profile == "zooscan":
        regions = await _segment_and_classify(image, runner, max_regions)
        counts = count_labels([r.classification.label for r in regions if r.classification is not None])
    elif request.profile == "litter":
        regions = await _classify_tiles(image, runner)
        counts = count_labels([r.classification.label for r in regions if r.classification is not None])
    else:
        detections = await _detect(image, runner)
        counts = count_labels([d.label for d in detections])
    return InferenceCompleted(
        message_id=derive_id("inference.completed", *request.object.identity, request.model),
        correlation_id=request.correlation_id,
        tenant=request.tenant,
        object=request.object,
        profile=request.profile,
        model=request.model,
        model_version=spec.version,
        image_width=image.width,
        image_height=image.height,
        classification=classification,
        detections=detections,
        regions=regions,
        counts=counts,
        inference_ms=round((clock() - started) * 1000, 2),
    )


async def _classify_one(image: Image.Image, runner: ModelRunner) -> Classification:
    output = await runner.infer(batch_inputs([image], runner.spec))
    return classify(output[0], runner.spec.labels)


async def _classify_many(images: list[Image.Image], runner: ModelRunner) -> list[Classification]:
    if not images:
        return []
    output = await runner.infer(batch_inputs(images, runner.spec))
    return [classify(row, runner.spec.labels) for row in output]


async def _segment_and_classify(image: Image.Image, runner: ModelRunner, max_regions: int) -> list[Region]:
    found = segment(image, max_regions)
    if not found:
        # A blank or uniform scan: the whole image is the one region, so nothing is lost.
        whole = BoundingBox(x_min=0, y_min=0, x_max=image.width, y_max=image.height)
        return [Region(index=0, box=whole, classification=await _classify_one(image, runner))]
    classes = await _classify_many([r.crop for r in found], runner)
    return [
        Region(
            index=i,
            box=BoundingBox(x_min=r.bbox[0], y_min=r.bbox[1], x_max=r.bbox[2], y_max=r.bbox[3]),
            features=r.features,
            classification=c,
        )
        for i, (r, c) in enumerate(zip(found, classes, strict=True))
    ]


async def _classify_tiles(image: Image.Image, runner: ModelRunner) -> list[Region]:
    assert runner.spec.tile_size is not None  # checked in check_request
    cut = tiles(image, runner.spec.tile_size)
    classes = await _classify_many([t.image for t in cut], runner)
    return [
        Region(
            index=i, box=BoundingBox(x_min=t.box[0], y_min=t.box[1], x_max=t.box[2], y_max=t.box[3]), classification=c
        )
        for i, (t, c) in enumerate(zip(cut, classes, strict=True))
    ]


async def _detect(image: Image.Image, runner: ModelRunner) -> list[Detection]:
    spec = runner.spec
    tensor, placement = to_model_input(image, spec)
    output = await runner.infer(np.expand_dims(tensor, 0))
    return decode_yolov8(
        output[0],
        spec.labels,
        score_threshold=spec.score_threshold,
        iou_threshold=spec.iou_threshold,
        placement=placement,
        width=image.width,
        height=image.height,
    )
