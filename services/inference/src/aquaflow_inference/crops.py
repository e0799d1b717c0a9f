"""Regions of interest cut out of the decoded image, and images encoded as PNG (pure: no I/O).

These crops are what a taxonomist validates in EcoTaxa, so they keep the pixels as
decoded: no resizing, no contrast stretching, the image's own grey levels or colours.
"""

from __future__ import annotations

import io
import math

from PIL import Image

from aquaflow_shared.contracts import BoundingBox

# PNG's zlib level: 6 (Pillow's default) costs about twice the CPU of 3 on scans for a few
# per cent smaller files; the worker shares its CPUs with decoding and preprocessing.
PNG_COMPRESS_LEVEL = 3
# Modes PNG stores as they are; any other mode (CMYK, YCbCr, LAB, HSV) is saved as RGB.
PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})

PixelBox = tuple[int, int, int, int]  # left, top, right, bottom (exclusive), as PIL crops


def pixel_box(box: BoundingBox, width: int, height: int, *, margin: int = 0) -> PixelBox:
    """The whole pixels covering ``box`` plus ``margin`` on each side, within the image.

    Fractional corners (detections) are rounded outwards so no part of the box is lost;
    the result always holds at least one pixel.
    """
    left = min(max(0, math.floor(box.x_min) - margin), width - 1)
    top = min(max(0, math.floor(box.y_min) - margin), height - 1)
    right = max(min(width, math.ceil(box.x_max) + margin), left + 1)
    bottom = max(min(height, math.ceil(box.y_max) + margin), top + 1)
    return left, top, right, bottom


def crop(image: Image.Image, box: BoundingBox, *, margin: int = 0) -> Image.Image:
    return image.crop(pixel_box(box, image.width, image.height, margin=margin))


def encode_png(image: Image.Image, *, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    if image.mode not in PNG_MODES:
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
