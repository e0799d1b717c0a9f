"""The inference use case: one request in, its object read, decoded and run, its crops written, one result out.

A request may name the model version to run (``model_version``); the worker's backend says
which versions it serves (``VersionChooser``), so one naming a version nobody serves is
refused before anything is downloaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from PIL import Image

from aquaflow_inference.errors import UnknownModel
from aquaflow_inference.imaging import decode_upload
from aquaflow_inference.model_port import ImageModel
from aquaflow_inference.outputs import OutputFile, render_outputs
from aquaflow_inference.pipeline import check_request, run_inference
from aquaflow_inference.storage import ObjectReader, ObjectWriter
from aquaflow_shared.contracts import InferenceCompleted, InferenceRequested
from aquaflow_shared.errors import PermanentError

PNG = "image/png"
# Crops of one message written at once; the client's connection pool is shared by all messages.
WRITES_PER_MESSAGE = 8


# The model pinned to the version a request names; None: the version served by default now.
VersionChooser = Callable[[str | None], Awaitable[ImageModel]]


def one_version(model: ImageModel) -> VersionChooser:
    """For a backend that serves a single version: that one, or a refusal that names it."""

    async def choose(wanted: str | None) -> ImageModel:
        if wanted is None or wanted == model.info.version:
            return model
        info = model.info
        raise UnknownModel(f"{info.name} version {wanted!r} is not served; this worker serves {info.version!r}")

    return choose


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
    model: ImageModel,
    limits: Limits,
    output: Output | None = None,
    *,
    versions: VersionChooser | None = None,
) -> InferenceCompleted:
    # Before downloading anything: the model, the profile and the version must fit.
    check_request(request, model.info)
    pinned = await (versions or one_version(model))(request.model_version)
    data = await reader.read(request.object)
    # Decoding a large scan is CPU work: keep it off the event loop the other messages share.
    try:
        decoded = await asyncio.to_thread(decode_upload, data, max_pixels=limits.max_image_pixels)
    except PermanentError as refused:
        # The reason names the object, as every other stage's reasons do.
        where = f"s3://{request.object.bucket}/{request.object.key}"
        raise PermanentError(f"{where}: {refused.reason}", code=refused.code) from refused
    completed = await run_inference(
        request, decoded.image, pinned, max_regions=limits.max_regions, grey_threshold=limits.grey_threshold
    )
    if output is None:
        return completed
    return await write_outputs(completed, decoded.image, output, upload_png=decoded.png)


async def write_outputs(
    completed: InferenceCompleted, image: Image.Image, output: Output, *, upload_png: bytes | None = None
) -> InferenceCompleted:
    """Write the crops and the preview; the result names them only once all are written.

    The keys are deterministic, so a redelivery after a crash halfway overwrites the same
    objects and leaves no strays. ``upload_png``: the upload, when it is a PNG of exactly
    ``image``'s pixels (``imaging.Decoded.png``), written as a vignette's crop instead of a new encoding.
    """
    # Cropping and PNG encoding: CPU work, off the event loop.
    rendered = await asyncio.to_thread(render_outputs, completed, image, output.bucket, upload_png=upload_png)
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
