"""The annotated preview: boxes drawn where the regions are, huge scans scaled down."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from aquaflow_inference.preview import Mark, annotate, colour
from aquaflow_shared.contracts import BoundingBox


def test_boxes_are_drawn_on_an_rgb_copy_in_the_labels_colour() -> None:
    scan = Image.new("L", (200, 100), 230)
    preview = annotate(scan, [Mark(BoundingBox(x_min=50, y_min=20, x_max=150, y_max=80), "0: copepod 0.91", "copepod")])
    assert (preview.mode, preview.size) == ("RGB", (200, 100))
    assert preview.getpixel((100, 79)) == colour("copepod")  # the bottom edge of the box
    assert preview.getpixel((100, 50)) == (230, 230, 230)  # inside the box, the scan as it was
    assert scan.getpixel((100, 79)) == 230  # the decoded image itself is untouched


def test_a_huge_scan_is_scaled_down_and_its_boxes_with_it() -> None:
    scan = Image.new("L", (8000, 2000), 230)
    preview = annotate(
        scan, [Mark(BoundingBox(x_min=4000, y_min=1000, x_max=8000, y_max=2000), "big", "big")], max_side=800
    )
    assert preview.size == (800, 200)
    assert preview.getpixel((600, 199)) == colour("big")


def test_a_caption_without_a_box_labels_the_whole_image() -> None:
    particle = Image.new("RGB", (120, 80), (200, 200, 200))
    preview = annotate(particle, [Mark(None, "diatom 0.80", "diatom")])
    assert preview.size == (120, 80)
    corner = preview.crop((0, 0, 40, 20))
    assert (0, 0, 0) in {c for _, c in corner.getcolors(40 * 20) or []}  # the caption's background, top left
    assert preview.getpixel((119, 79)) == (200, 200, 200)


def test_each_label_keeps_its_colour() -> None:
    assert colour("copepod") == colour("copepod")


def drawn_in_place(image: Image.Image, text: str, label: str) -> Image.Image:
    """A whole-image caption drawn straight onto the image, as the preview first drew it."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(10, min(20, min(canvas.size) // 25)))
    line = max(1, min(canvas.size) // 300 + 1)
    left, top, right, bottom = draw.textbbox((0.0 + line, 0.0 + line), text, font=font)
    draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=(0, 0, 0))
    draw.text((0.0 + line, 0.0 + line), text, fill=colour(label), font=font)
    return canvas


@pytest.mark.parametrize("size", [(16, 22), (35, 56), (91, 95), (250, 600), (320, 310), (700, 830), (1200, 1500)])
def test_a_whole_image_caption_is_pasted_exactly_as_drawing_it_in_place_would(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0])
    particle = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    for label, score in [("copepod", 0.93), ("diatom", 0.5), ("detritus", 1.0), ("copepod", 0.93)]:
        text = f"{label} {score:.2f}"
        preview = annotate(particle, [Mark(None, text, label)])
        np.testing.assert_array_equal(np.asarray(preview), np.asarray(drawn_in_place(particle, text, label)))
