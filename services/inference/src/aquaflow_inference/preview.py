"""The annotated preview of a frame or scan: each region's box and label drawn on it (pure).

A person checks a result at a glance with it, so it is scaled down to a size a browser
shows whole, and the boxes are drawn after scaling so lines and labels stay legible.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from aquaflow_shared.contracts import BoundingBox

# Longest side of a preview; larger scans (a ZooScan frame is ~15000 px) are scaled down.
PREVIEW_MAX_SIDE = 1600
# Colours that stand out on grey scans and on blue-green water alike.
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180))


@dataclass(frozen=True)
class Mark:
    """One thing to show: a box (None: the whole image) and its caption."""

    box: BoundingBox | None
    text: str
    label: str  # picks the colour, so every box of one class has the same


def colour(label: str) -> tuple[int, int, int]:
    # crc32, not hash(): the same label gets the same colour in every process.
    return PALETTE[zlib.crc32(label.encode()) % len(PALETTE)]


def annotate(image: Image.Image, marks: list[Mark], *, max_side: int = PREVIEW_MAX_SIDE) -> Image.Image:
    scale = min(1.0, max_side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # reducing_gap: shrink by whole factors first, then filter; far cheaper on huge scans.
    canvas = image.convert("RGB").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(10, min(20, min(size) // 25)))
    line = max(1, min(size) // 300 + 1)
    for mark in marks:
        fill = colour(mark.label)
        if mark.box is None:
            x, y = 0.0, 0.0
        else:
            x, y = mark.box.x_min * scale, mark.box.y_min * scale
            corners = (x, y, max(x, mark.box.x_max * scale - 1), max(y, mark.box.y_max * scale - 1))
            draw.rectangle(corners, outline=fill, width=line)
        left, top, right, bottom = draw.textbbox((x + line, y + line), mark.text, font=font)
        draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=(0, 0, 0))
        draw.text((x + line, y + line), mark.text, fill=fill, font=font)
    return canvas
