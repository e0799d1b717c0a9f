"""The ImageModel of a model served by Triton: images in, classes or boxes out (model_port.py).

Images become tensors as the model's configuration says (preprocess.py), go to Triton in
one call per batch (joined with the calls of the other messages in flight, batching.py;
chunked to the model's max batch size), and the answers are read back (postprocess.py).
The numpy and PIL work runs in worker threads, off the event loop the other messages share.

A model is pinned to one version for a request, so the version a result names is the one
that ran, even while a new version is rolled out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from PIL import Image

from aquaflow_inference.errors import UnknownModel
from aquaflow_inference.model_port import ModelInfo
from aquaflow_inference.postprocess import Floats, classify, decode_yolov8, softmax
from aquaflow_inference.preprocess import Tensor, batch_inputs, to_model_input
from aquaflow_inference.spec import ModelSpec
from aquaflow_inference.triton_client import VersionNotServed
from aquaflow_shared.contracts import Classification, Detection


class TensorModel(Protocol):
    """A model as tensors in and out: ``TritonModel`` (behind ``JoinedCalls``), or ONNX Runtime in the pure tests."""

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def versions(self) -> tuple[str, ...]:
        """The versions served, oldest first; the last is the default."""

    async def refresh_versions(self) -> tuple[str, ...]:
        """Ask the server again which versions it serves."""

    async def served_versions(self) -> tuple[str, ...]:
        """``versions``, read again from the server when they may be out of date."""

    async def infer(self, batch: Tensor, version: str | None = None) -> Floats:
        """Run a batch in the model's input layout and return the output ``[N, ...]``."""


class TritonImageModel:
    """An ``ImageModel`` over one model; ``version`` pins it (None: the default at each call)."""

    def __init__(self, tensors: TensorModel, version: str | None = None, *, asked: bool = False) -> None:
        self._tensors = tensors
        self._version = version
        # Named by the request rather than chosen as the default: a version Triton does not
        # serve is then the request's fault, not a passing state of the server.
        self._asked = asked

    @property
    def info(self) -> ModelInfo:
        spec = self._tensors.spec
        return ModelInfo(
            name=spec.name,
            version=self._running_version(),
            task=spec.task,
            labels=spec.labels,
            tile_size=spec.tile_size,
            backend="triton",
        )

    def _running_version(self) -> str:
        return self._version or self._tensors.versions[-1]

    async def version(self, wanted: str | None) -> TritonImageModel:
        """This model pinned to ``wanted``, or to the version served by default now when None."""
        if wanted is None:
            return TritonImageModel(self._tensors, (await self._tensors.served_versions())[-1])
        if wanted not in self._tensors.versions and wanted not in await self._tensors.refresh_versions():
            name = self._tensors.spec.name
            raise UnknownModel(f"{name} version {wanted!r} is not served; Triton serves {list(self._tensors.versions)}")
        return TritonImageModel(self._tensors, wanted, asked=True)

    async def classify(self, images: Sequence[Image.Image]) -> list[Classification]:
        if not images:
            return []
        spec = self._tensors.spec
        batch = await asyncio.to_thread(batch_inputs, list(images), spec)
        output = await self._infer(batch)
        probabilities = softmax(output) if spec.output == "logits" else output
        return [classify(row, spec.labels) for row in probabilities]

    async def detect(self, image: Image.Image) -> list[Detection]:
        spec = self._tensors.spec
        tensor, placement = await asyncio.to_thread(to_model_input, image, spec)
        output = await self._infer(tensor[None])
        return decode_yolov8(
            output[0],
            spec.labels,
            score_threshold=spec.score_threshold,
            iou_threshold=spec.iou_threshold,
            placement=placement,
            width=image.width,
            height=image.height,
        )

    async def _infer(self, batch: Tensor) -> Floats:
        version = self._running_version()
        try:
            return await self._tensors.infer(batch, version)
        except VersionNotServed as gone:
            served = await self._tensors.refresh_versions()
            if self._asked and version not in served:
                name = self._tensors.spec.name
                reason = f"{name} version {version!r} is no longer served; Triton serves {list(served)}"
                raise UnknownModel(reason) from gone
            # The default moved on (a retry runs the new one), or the version is loading again.
            raise
