"""Drone images cut into tiles, and the share of the image that is litter."""

from __future__ import annotations

from PIL import Image

from aquaflow_inference.tiling import litter_fraction, tiles


def test_tiles_cover_the_image_row_by_row_with_smaller_edge_tiles() -> None:
    cut = tiles(Image.new("RGB", (300, 200)), 128)
    assert [t.box for t in cut] == [
        (0, 0, 128, 128),
        (128, 0, 256, 128),
        (256, 0, 300, 128),
        (0, 128, 128, 200),
        (128, 128, 256, 200),
        (256, 128, 300, 200),
    ]
    assert [t.image.size for t in cut][2:4] == [(44, 128), (128, 72)]
    assert sum(t.image.width * t.image.height for t in cut) == 300 * 200


def test_litter_fraction_weighs_tiles_by_their_area() -> None:
    cut = tiles(Image.new("RGB", (300, 200)), 128)
    labels = ["litter", "water", "water", "water", "water", "litter"]
    assert litter_fraction(cut, labels) == round((128 * 128 + 44 * 72) / (300 * 200), 4)
    assert litter_fraction(cut, ["water"] * 6) == 0.0
    assert litter_fraction(cut, ["litter"] * 6) == 1.0
