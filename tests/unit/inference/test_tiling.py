"""Drone images cut into tiles, and the share of the image that is litter."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from aquaflow_inference.tiling import label_fraction, tiles


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


@pytest.mark.parametrize(
    ("size", "count", "last"),
    [((256, 256), 4, (128, 128, 256, 256)), ((100, 60), 1, (0, 0, 100, 60)), ((129, 128), 2, (128, 0, 129, 128))],
)
def test_tile_counts_and_edge_tiles(size: tuple[int, int], count: int, last: tuple[int, int, int, int]) -> None:
    cut = tiles(Image.new("RGB", size), 128)
    assert len(cut) == count
    assert cut[-1].box == last
    assert cut[-1].image.size == (last[2] - last[0], last[3] - last[1])


def test_a_tile_holds_the_pixels_of_its_box() -> None:
    pixels = np.arange(200 * 300, dtype=np.uint32).reshape(200, 300) % 251
    image = Image.fromarray(pixels.astype(np.uint8))
    for tile in tiles(image, 128):
        x0, y0, x1, y1 = tile.box
        np.testing.assert_array_equal(np.asarray(tile.image), pixels[y0:y1, x0:x1])


def test_the_fraction_of_a_label_weighs_tiles_by_their_area() -> None:
    cut = tiles(Image.new("RGB", (300, 200)), 128)
    labels = ["litter", "water", "water", "water", "water", "litter"]
    assert label_fraction(cut, labels, "litter") == round((128 * 128 + 44 * 72) / (300 * 200), 4)
    assert label_fraction(cut, labels, "water") == round(1 - (128 * 128 + 44 * 72) / (300 * 200), 4)
    assert label_fraction(cut, ["water"] * 6, "litter") == 0.0
    assert label_fraction(cut, ["litter"] * 6, "litter") == 1.0
