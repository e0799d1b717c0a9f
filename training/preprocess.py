"""Model input preprocessing exactly as docs/model-contract.md describes it.

Plain numpy and PIL, no torch: the generated training images go through these functions, so the models
learn from exactly the tensors the inference service sends. The constants here are the values written
into each model's `config.pbtxt` parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from training.arrays import Array

# PIL's bilinear filter; when shrinking it widens its support, so it also antialiases.
RESAMPLE = Image.Resampling.BILINEAR

CLASSIFIER_SIZE = 64
CLASSIFIER_MEAN = (0.1,)
CLASSIFIER_STD = (0.2,)

TILE_INPUT_SIZE = 64
TILE_SOURCE_SIZE = 128
TILE_MEAN = (0.485, 0.456, 0.406)
TILE_STD = (0.229, 0.224, 0.225)

DETECTOR_SIZE = 320
LETTERBOX_FILL = 114


def border_colour(image: Image.Image) -> int | tuple[int, ...]:
    """The median of the outermost ring of pixels, per channel: the vignette's background."""
    pixels = np.asarray(image)
    ring = np.concatenate(
        [pixels[0, :], pixels[-1, :], pixels[1:-1, 0], pixels[1:-1, -1]],
        axis=0,
    )
    median = np.median(ring, axis=0)
    if np.ndim(median) == 0:
        return round(float(median))
    return tuple(round(float(v)) for v in median)


def pad_square(image: Image.Image) -> Image.Image:
    """Keep the aspect ratio: pad to a square with the image's border colour, the image centred."""
    width, height = image.size
    side = max(width, height)
    if width == height:
        return image
    canvas = Image.new(image.mode, (side, side), border_colour(image))
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def normalise(pixels: Array, *, invert: bool, mean: tuple[float, ...], std: tuple[float, ...]) -> Array:
    """uint8 HxW or HxWxC → float32 CxHxW: scale to 0..1, optionally invert, then (x − mean) / std."""
    scaled = pixels.astype(np.float32) / 255.0
    if scaled.ndim == 2:
        scaled = scaled[:, :, None]
    if invert:
        scaled = 1.0 - scaled
    chw = np.transpose(scaled, (2, 0, 1))
    mean_arr = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
    std_arr = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
    return np.ascontiguousarray((chw - mean_arr) / std_arr, dtype=np.float32)


def classifier_input(image: Image.Image) -> Array:
    """Any PIL image → the plankton classifier's `images` tensor [1, 64, 64]."""
    grey = pad_square(image.convert("L"))
    resized = grey.resize((CLASSIFIER_SIZE, CLASSIFIER_SIZE), RESAMPLE)
    return normalise(np.asarray(resized), invert=True, mean=CLASSIFIER_MEAN, std=CLASSIFIER_STD)


def tile_input(tile: Image.Image) -> Array:
    """One drone-image tile (nominally 128 px, smaller at the image edge) → litter `images` [3, 64, 64]."""
    square = pad_square(tile.convert("RGB"))
    resized = square.resize((TILE_INPUT_SIZE, TILE_INPUT_SIZE), RESAMPLE)
    return normalise(np.asarray(resized), invert=False, mean=TILE_MEAN, std=TILE_STD)


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed on the detector's square input: input = image * scale + pad."""

    scale: float
    pad_x: int
    pad_y: int

    def to_input(self, boxes_xyxy: Array) -> Array:
        out = boxes_xyxy.astype(np.float32) * self.scale
        out[:, [0, 2]] += self.pad_x
        out[:, [1, 3]] += self.pad_y
        return out


def letterbox_geometry(width: int, height: int, size: int = DETECTOR_SIZE) -> tuple[Letterbox, tuple[int, int]]:
    scale = min(size / width, size / height)
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    return Letterbox(scale, (size - new_w) // 2, (size - new_h) // 2), (new_w, new_h)


def letterbox(image: Image.Image, size: int = DETECTOR_SIZE) -> tuple[Array, Letterbox]:
    """YOLO-style: keep the aspect ratio, pad with grey 114 to size x size, scale to 0..1 → [3, size, size]."""
    rgb = image.convert("RGB")
    geometry, new_size = letterbox_geometry(*rgb.size, size=size)
    canvas = Image.new("RGB", (size, size), (LETTERBOX_FILL,) * 3)
    canvas.paste(rgb.resize(new_size, RESAMPLE), (geometry.pad_x, geometry.pad_y))
    return normalise(np.asarray(canvas), invert=False, mean=(0.0,), std=(1.0,)), geometry
