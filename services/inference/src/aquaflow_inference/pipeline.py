"""The inference use case: one request and its image in, one ``InferenceCompleted`` out.

Pure apart from the model call, which goes through the small ``ModelRunner``
Protocol (Triton in production, anything with the same shape in tests). The heavy
numpy/PIL steps run in worker threads so that the event loop keeps serving the other
messages in flight and the broker's heartbeats.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image

from aquaflow_inference.errors import ProfileMismatch, UnknownModel
from aquaflow_inference.postprocess import Floats, classify, count_labels, decode_yolov8
from aquaflow_inference.preprocess import Tensor, batch_inputs, to_model_input
from aquaflow_inference.segmentation import segment
from aquaflow_inference.spec import ModelSpec, Task
from aquaflow_inference.tiling import LITTER_LABEL, litter_fraction, tiles
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
    if request.profile == "litter" and LITTER_LABEL not in spec.labels:
        raise ProfileMismatch(f"profile 'litter' needs a {LITTER_LABEL!r} class; {spec.name} has {list(spec.labels)}")


@dataclass
class Outcome:
    """What one profile's pipeline found in an image."""

    classification: Classification | None = None
    detections: list[Detection] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    measures: dict[str, float] = field(default_factory=dict)


async def run_inference(
    request: InferenceRequested,
    image: Image.Image,
    runner: ModelRunner,
    *,
    max_regions: int,
    grey_threshold: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> InferenceCompleted:
    spec = runner.spec
    check_request(request, spec)
    started = clock()
    if request.profile == "flowcam":
        outcome = Outcome(classification=await _classify_one(image, runner))
    elif request.profile == "zooscan":
        outcome = await _segment_and_classify(image, runner, max_regions, grey_threshold)
    elif request.profile == "litter":
        outcome = await _classify_tiles(image, runner)
    else:
        outcome = await _detect(image, runner)
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
        classification=outcome.classification,
        detections=outcome.detections,
        regions=outcome.regions,
        counts=outcome.counts,
        measures=outcome.measures,
        inference_ms=round((clock() - started) * 1000, 2),
        route=request.route,
        sample_id=request.sample_id,
    )


def _box(box: tuple[int, int, int, int]) -> BoundingBox:
    return BoundingBox(x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3])


async def _classify_one(image: Image.Image, runner: ModelRunner) -> Classification:
    output = await runner.infer(await asyncio.to_thread(batch_inputs, [image], runner.spec))
    return classify(output[0], runner.spec.labels)


async def _classify_many(images: list[Image.Image], runner: ModelRunner) -> list[Classification]:
    if not images:
        return []
    output = await runner.infer(await asyncio.to_thread(batch_inputs, images, runner.spec))
    return [classify(row, runner.spec.labels) for row in output]


async def _segment_and_classify(
    image: Image.Image, runner: ModelRunner, max_regions: int, grey_threshold: int | None
) -> Outcome:
    found = await asyncio.to_thread(segment, image, max_regions, grey_threshold)
    if not found.regions:
        # A blank or uniform scan: the whole image is the one region, so nothing is lost.
        classification = await _classify_one(image, runner)
        whole = Region(index=0, box=_box((0, 0, *image.size)), classification=classification)
        return Outcome(regions=[whole], counts=count_labels([classification.label]))
    classes = await _classify_many([r.crop for r in found.regions], runner)
    regions = [
        Region(index=i, box=_box(r.bbox), features=r.features, classification=c)
        for i, (r, c) in enumerate(zip(found.regions, classes, strict=True))
    ]
    # Regions beyond max_regions are not classified; their number is still reported.
    measures = {"regions_found": float(found.total), "regions_classified": float(len(regions))}
    return Outcome(regions=regions, counts=count_labels([c.label for c in classes]), measures=measures)


async def _classify_tiles(image: Image.Image, runner: ModelRunner) -> Outcome:
    assert runner.spec.tile_size is not None  # checked in check_request
    cut = tiles(image, runner.spec.tile_size)
    classes = await _classify_many([t.image for t in cut], runner)
    regions = [
        Region(index=i, box=_box(t.box), classification=c) for i, (t, c) in enumerate(zip(cut, classes, strict=True))
    ]
    labels = [c.label for c in classes]
    return Outcome(
        regions=regions, counts=count_labels(labels), measures={"litter_fraction": litter_fraction(cut, labels)}
    )


async def _detect(image: Image.Image, runner: ModelRunner) -> Outcome:
    spec = runner.spec
    tensor, placement = await asyncio.to_thread(to_model_input, image, spec)
    output = await runner.infer(np.expand_dims(tensor, 0))
    detections = decode_yolov8(
        output[0],
        spec.labels,
        score_threshold=spec.score_threshold,
        iou_threshold=spec.iou_threshold,
        placement=placement,
        width=image.width,
        height=image.height,
    )
    return Outcome(detections=detections, counts=count_labels([d.label for d in detections]))
