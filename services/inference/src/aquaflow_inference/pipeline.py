"""The inference use case: one request and its image in, one ``InferenceCompleted`` out.

The model is an ``ImageModel`` (model_port.py): Triton or a DEEPaaS module in production,
a model run in-process in tests. What happens to the image is the request's profile's step
(profiles.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PIL import Image

from aquaflow_inference.errors import UnknownModel
from aquaflow_inference.model_port import ImageModel, ModelInfo
from aquaflow_inference.profiles import Profile, profile_named
from aquaflow_shared.contracts import InferenceCompleted, InferenceRequested, derive_id


def check_request(request: InferenceRequested, info: ModelInfo) -> Profile:
    """The request's profile, once this model is the one it names and one the profile can use."""
    if request.model != info.name:
        raise UnknownModel(f"this worker serves {info.name!r}, not {request.model!r}")
    profile = profile_named(request.profile)
    profile.check(info)
    return profile


def completed_id(request: InferenceRequested) -> str:
    """One id per object version, model and pinned version: redeliveries share it, versions do not."""
    pinned = (request.model_version,) if request.model_version is not None else ()
    return derive_id("inference.completed", *request.object.identity, request.model, *pinned)


async def run_inference(
    request: InferenceRequested,
    image: Image.Image,
    model: ImageModel,
    *,
    max_regions: int,
    grey_threshold: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> InferenceCompleted:
    info = model.info  # read once: the version that runs is the one reported
    profile = check_request(request, info).tuned(max_regions=max_regions, grey_threshold=grey_threshold)
    started = clock()
    outcome = await profile.step(image, model, profile)
    return InferenceCompleted(
        message_id=completed_id(request),
        correlation_id=request.correlation_id,
        tenant=request.tenant,
        object=request.object,
        profile=request.profile,
        model=request.model,
        model_version=info.version,
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
        requested_version=request.model_version,
        primary=request.primary,
    )
