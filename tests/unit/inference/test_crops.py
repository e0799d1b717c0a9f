"""Crops cut from the decoded image at whole pixels, and PNG encoding that keeps the pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aquaflow_inference.crops import crop, encode_png, pixel_box
from aquaflow_shared.contracts import BoundingBox


def box(x0: float, y0: float, x1: float, y1: float) -> BoundingBox:
    return BoundingBox(x_min=x0, y_min=y0, x_max=x1, y_max=y1)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


@pytest.mark.parametrize(
    ("given", "margin", "expected"),
    [
        (box(10, 20, 30, 40), 0, (10, 20, 30, 40)),
        (box(10.4, 20.6, 29.2, 39.9), 0, (10, 20, 30, 40)),  # fractional corners round outwards
        (box(10, 20, 30, 40), 4, (6, 16, 34, 44)),
        (box(2, 1, 98, 59), 4, (0, 0, 100, 60)),  # the margin stops at the image's edges
        (box(-5, -5, 120, 80), 0, (0, 0, 100, 60)),
        (box(99.5, 59.5, 99.6, 59.6), 0, (99, 59, 100, 60)),  # at least one pixel
    ],
)
def test_pixel_boxes(given: BoundingBox, margin: int, expected: tuple[int, int, int, int]) -> None:
    assert pixel_box(given, 100, 60, margin=margin) == expected


def test_a_crop_keeps_the_original_grey_levels() -> None:
    pixels = np.arange(100 * 60, dtype=np.uint32).reshape(60, 100) % 251
    image = Image.fromarray(pixels.astype(np.uint8))
    out = decoded(encode_png(crop(image, box(10, 20, 30, 40), margin=4)))
    assert (out.mode, out.size) == ("L", (28, 28))
    np.testing.assert_array_equal(np.asarray(out), pixels[16:44, 6:34])


@pytest.mark.parametrize(("mode", "stored"), [("L", "L"), ("RGB", "RGB"), ("RGBA", "RGBA"), ("CMYK", "RGB")])
def test_png_keeps_what_png_can_hold_and_turns_the_rest_into_rgb(mode: str, stored: str) -> None:
    image = Image.new(mode, (7, 5))
    out = decoded(encode_png(image))
    assert (out.mode, out.size) == (stored, (7, 5))


def test_encoding_is_deterministic() -> None:
    image = Image.effect_noise((64, 48), 40)
    assert encode_png(image) == encode_png(image.copy())
