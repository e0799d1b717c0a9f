"""The inference use case: one request in, its object read, decoded and run, one result out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aquaflow_inference.imaging import decode_image
from aquaflow_inference.pipeline import ModelRunner, check_request, run_inference
from aquaflow_inference.storage import ObjectReader
from aquaflow_shared.contracts import InferenceCompleted, InferenceRequested


@dataclass(frozen=True)
class Limits:
    max_image_pixels: int
    max_regions: int
    grey_threshold: int | None = None


async def infer_object(
    request: InferenceRequested, reader: ObjectReader, runner: ModelRunner, limits: Limits
) -> InferenceCompleted:
    check_request(request, runner.spec)  # before downloading anything
    data = await reader.read(request.object)
    # Decoding a large scan is CPU work: keep it off the event loop the other messages share.
    image = await asyncio.to_thread(decode_image, data, max_pixels=limits.max_image_pixels)
    return await run_inference(
        request, image, runner, max_regions=limits.max_regions, grey_threshold=limits.grey_threshold
    )
