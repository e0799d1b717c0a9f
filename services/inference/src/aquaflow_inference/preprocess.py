"""Image → model input tensor, exactly as the model's contract says (pure, numpy and PIL).

The training scripts send their generated images through the same steps; a test
checks that both give identical tensors on the real plankton images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from aquaflow_inference.spec import ModelSpec

Tensor = npt.NDArray[np.float32]
RESAMPLE = Image.Resampling.BILINEAR
LETTERBOX_GREY = 114


@dataclass(frozen=True)
class Placement:
    """Where the original image sits in the model input: input = original * scale + pad."""

    scale: float
    pad_x: float
    pad_y: float

    def to_original(self, boxes: npt.NDArray[np.float32], width: int, height: int) -> npt.NDArray[np.float32]:
        """Map x1, y1, x2, y2 boxes from input pixels back to the original image, clipped to it."""
        out = boxes.astype(np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
        return out


def border_colour(image: Image.Image) -> int | tuple[int, ...]:
    """Median of the outermost ring of pixels, per channel: a vignette's background."""
    pixels = np.asarray(image)
    ring = np.concatenate([pixels[0, :], pixels[-1, :], pixels[1:-1, 0], pixels[1:-1, -1]], axis=0)
    median = np.median(ring, axis=0)
    if np.ndim(median) == 0:
        return round(float(median))
    return tuple(round(float(v)) for v in median)


def _pad_square(image: Image.Image) -> Image.Image:
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), border_colour(image))
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def _normalise(pixels: npt.NDArray[np.uint8], spec: ModelSpec) -> Tensor:
    norm = spec.normalisation
    scaled = pixels.astype(np.float32) * norm.numerator / norm.denominator
    if scaled.ndim == 2:
        scaled = scaled[:, :, None]
    if spec.color == "bgr":
        scaled = scaled[:, :, ::-1]
    if norm.invert:
        scaled = norm.full_scale - scaled
    chw = np.transpose(scaled, (2, 0, 1))
    mean = np.asarray(norm.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(norm.std, dtype=np.float32).reshape(-1, 1, 1)
    normalised = (chw - mean) / std
    if spec.layout == "NHWC":
        normalised = np.transpose(normalised, (1, 2, 0))
    return np.ascontiguousarray(normalised, dtype=np.float32)


def to_model_input(image: Image.Image, spec: ModelSpec) -> tuple[Tensor, Placement]:
    """One image → one input tensor ([C, H, W] or [H, W, C] as the model's layout) and where the image sits in it."""
    converted = image.convert("L" if spec.color == "gray" else "RGB")
    width, height = converted.size
    if spec.resize == "pad_square":
        side = max(width, height)
        square = _pad_square(converted).resize((spec.width, spec.height), RESAMPLE)
        scale = spec.width / side
        placement = Placement(scale, (side - width) // 2 * scale, (side - height) // 2 * scale)
        return _normalise(np.asarray(square), spec), placement
    scale = min(spec.width / width, spec.height / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    pad_x, pad_y = (spec.width - new_w) // 2, (spec.height - new_h) // 2
    fill = LETTERBOX_GREY if spec.color == "gray" else (LETTERBOX_GREY,) * 3
    canvas = Image.new(converted.mode, (spec.width, spec.height), fill)
    canvas.paste(converted.resize((new_w, new_h), RESAMPLE), (pad_x, pad_y))
    return _normalise(np.asarray(canvas), spec), Placement(scale, pad_x, pad_y)


def batch_inputs(images: list[Image.Image], spec: ModelSpec) -> Tensor:
    return np.stack([to_model_input(image, spec)[0] for image in images])
