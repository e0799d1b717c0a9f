"""The annotated preview of a frame or scan: each region's box and label drawn on it (pure).

A person checks a result at a glance with it, so it is scaled down to a size a browser
shows whole, and the boxes are drawn after scaling so lines and labels stay legible.
"""

from __future__ import annotations

import functools
import threading
import zlib
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from aquaflow_shared.contracts import BoundingBox

# Longest side of a preview; larger scans (a ZooScan frame is ~15000 px) are scaled down.
PREVIEW_MAX_SIDE = 1600
# Colours that stand out on grey scans and on blue-green water alike.
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180))
# Whole-image captions kept drawn, a few kilobytes each: a model's labels x 101 scores, per font size.
CAPTION_TILES = 1024

Colour = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class Mark:
    """One thing to show: a box (None: the whole image) and its caption."""

    box: BoundingBox | None
    text: str
    label: str  # picks the colour, so every box of one class has the same


def colour(label: str) -> Colour:
    # crc32, not hash(): the same label gets the same colour in every process.
    return PALETTE[zlib.crc32(label.encode()) % len(PALETTE)]


# Fonts by size, one set per thread: loading one parses the font file again, and a FreeType
# face must not be used by two threads at once (previews are drawn in worker threads).
_fonts = threading.local()


def caption_font(size: int) -> Font:
    loaded: dict[int, Font] = _fonts.__dict__.setdefault("by_size", {})
    font = loaded.get(size)
    if font is None:
        font = loaded[size] = ImageFont.load_default(size=size)
    return font


def annotate(image: Image.Image, marks: list[Mark], *, max_side: int = PREVIEW_MAX_SIDE) -> Image.Image:
    scale = min(1.0, max_side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    canvas = image.convert("RGB")  # a copy, drawn on
    if canvas.size != size:
        # reducing_gap: shrink by whole factors first, then filter; far cheaper on huge scans.
        canvas = canvas.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    draw = ImageDraw.Draw(canvas)
    font_size = max(10, min(20, min(size) // 25))
    font = caption_font(font_size)
    line = max(1, min(size) // 300 + 1)
    for mark in marks:
        fill = colour(mark.label)
        if mark.box is None:
            tile, corner = caption_tile(mark.text, font_size, fill, line)
            canvas.paste(tile, corner)
            continue
        x, y = mark.box.x_min * scale, mark.box.y_min * scale
        corners = (x, y, max(x, mark.box.x_max * scale - 1), max(y, mark.box.y_max * scale - 1))
        draw.rectangle(corners, outline=fill, width=line)
        _caption(draw, (x + line, y + line), mark.text, fill, font)
    return canvas


def _caption(draw: ImageDraw.ImageDraw, at: tuple[float, float], text: str, fill: Colour, font: Font) -> None:
    """The text at ``at`` on a black box one pixel wider than it on each side."""
    left, top, right, bottom = draw.textbbox(at, text, font=font)
    draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=(0, 0, 0))
    draw.text(at, text, fill=fill, font=font)


@functools.lru_cache(maxsize=CAPTION_TILES)
def caption_tile(text: str, font_size: int, fill: Colour, line: int) -> tuple[Image.Image, tuple[int, int]]:
    """A whole-image caption (a vignette's label and score), drawn once and pasted at its place.

    Drawn at the image's corner, its black box hides what lies under it, so its pixels do not
    depend on the image: drawn on a tile of its own size, moved by whole pixels, it is the very
    same, and a stream of vignettes repeats a few hundred captions.
    """
    font = caption_font(font_size)
    box = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((line, line), text, font=font)
    left, top, right, bottom = (int(side) for side in box)  # whole pixels: the text starts at one
    corner = (left - 1, top - 1)
    tile = Image.new("RGB", (right - left + 3, bottom - top + 3), (0, 0, 0))
    _caption(ImageDraw.Draw(tile), (line - corner[0], line - corner[1]), text, fill, font)
    return tile, corner
