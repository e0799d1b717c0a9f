"""The one seam between the pipeline and whatever serves a model (Triton, a DEEPaaS module).

The pipeline works with images and aquaflow's own answers; how a backend turns an image
into a tensor, or a JSON answer into a label, stays inside the backend's adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from aquaflow_inference.spec import Task
from aquaflow_shared.contracts import Classification, Detection


@dataclass(frozen=True)
class ModelInfo:
    """What the pipeline needs to know of a model, whichever backend serves it."""

    name: str
    version: str
    task: Task
    labels: tuple[str, ...]
    tile_size: int | None = None  # set for tile classifiers (the litter profile)
    backend: str = "triton"


class ImageModel(Protocol):
    @property
    def info(self) -> ModelInfo: ...

    async def classify(self, images: Sequence[Image.Image]) -> list[Classification]:
        """One classification per image, in order; an empty sequence gives an empty list."""

    async def detect(self, image: Image.Image) -> list[Detection]:
        """Objects found in one image, boxes in the image's own pixel coordinates."""
