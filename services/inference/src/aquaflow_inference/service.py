"""The inference use case: one request in, its object read, decoded and run, its crops written, one result out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from PIL import Image

from aquaflow_inference.imaging import decode_image
from aquaflow_inference.outputs import OutputFile, render_outputs
from aquaflow_inference.pipeline import ModelRunner, check_request, run_inference
from aquaflow_inference.storage import ObjectReader, ObjectWriter
from aquaflow_shared.contracts import InferenceCompleted, InferenceRequested
from aquaflow_shared.errors import PermanentError

PNG = "image/png"
# Crops of one message written at once; the client's connection pool is shared by all messages.
WRITES_PER_MESSAGE = 8


@dataclass(frozen=True)
class Limits:
    max_image_pixels: int
    max_regions: int
    grey_threshold: int | None = None


@dataclass(frozen=True)
class Output:
    """Where crops and previews go."""

    bucket: str
    writer: ObjectWriter


async def infer_object(
    request: InferenceRequested,
    reader: ObjectReader,
    runner: ModelRunner,
    limits: Limits,
    output: Output | None = None,
) -> InferenceCompleted:
    check_request(request, runner.spec)  # before downloading anything
    data = await reader.read(request.object)
    # Decoding a large scan is CPU work: keep it off the event loop the other messages share.
    try:
        image = await asyncio.to_thread(decode_image, data, max_pixels=limits.max_image_pixels)
    except PermanentError as refused:
        # The reason names the object, as every other stage's reasons do.
        where = f"s3://{request.object.bucket}/{request.object.key}"
        raise PermanentError(f"{where}: {refused.reason}", code=refused.code) from refused
    completed = await run_inference(
        request, image, runner, max_regions=limits.max_regions, grey_threshold=limits.grey_threshold
    )
    if output is None:
        return completed
    return await write_outputs(completed, image, output)


async def write_outputs(completed: InferenceCompleted, image: Image.Image, output: Output) -> InferenceCompleted:
    """Write the crops and the preview; the result names them only once all are written.

    The keys are deterministic, so a redelivery after a crash halfway overwrites the same
    objects and leaves no strays.
    """
    rendered = await asyncio.to_thread(render_outputs, completed, image, output.bucket)  # cropping, PNG: CPU
    await write_all(output, rendered.files)
    return rendered.completed


async def write_all(output: Output, files: list[OutputFile]) -> None:
    gate = asyncio.Semaphore(WRITES_PER_MESSAGE)

    async def write(file: OutputFile) -> None:
        async with gate:
            await output.writer.write(output.bucket, file.key, file.data, PNG)

    # Let every write finish or fail before raising, so none runs on after the message is settled.
    outcomes = await asyncio.gather(*(write(f) for f in files), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
