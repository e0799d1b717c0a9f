"""The model input preprocessing of docs/model-contract.md, value by value."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from training.preprocess import (
    CLASSIFIER_MEAN,
    CLASSIFIER_STD,
    LETTERBOX_FILL,
    TILE_MEAN,
    TILE_STD,
    border_colour,
    classifier_input,
    letterbox,
    pad_square,
    tile_input,
)


def test_pad_square_pads_with_the_border_colour_and_centres_the_image() -> None:
    pixels = np.full((10, 30), 200, dtype=np.uint8)
    pixels[4:6, 10:20] = 10  # a dark organism in the middle
    padded = np.asarray(pad_square(Image.fromarray(pixels)))
    assert padded.shape == (30, 30)
    assert (padded[:10] == 200).all()  # padding above: background, not black
    assert (padded[20:] == 200).all()
    assert (padded[10:20] == pixels).all()


def test_border_colour_is_the_median_of_the_outer_ring_per_channel() -> None:
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    pixels[:, :] = (250, 240, 230)
    pixels[3:5, 3:5] = (0, 0, 0)
    pixels[0, 0] = (0, 0, 0)  # one odd border pixel does not move the median
    assert border_colour(Image.fromarray(pixels)) == (250, 240, 230)


def test_classifier_input_scales_inverts_and_normalises() -> None:
    white = Image.new("L", (40, 90), 255)
    black = Image.new("L", (90, 40), 0)
    white_x, black_x = classifier_input(white), classifier_input(black)
    assert white_x.shape == (1, 64, 64)
    assert white_x.dtype == np.float32
    # White background → 1 → inverted to 0 → (0 − mean) / std; black → 1 after inversion.
    assert np.allclose(white_x, (0.0 - CLASSIFIER_MEAN[0]) / CLASSIFIER_STD[0])
    assert np.allclose(black_x, (1.0 - CLASSIFIER_MEAN[0]) / CLASSIFIER_STD[0])


@pytest.mark.parametrize("mode", ["RGB", "P", "L", "RGBA", "LA"])
def test_classifier_accepts_every_mode_the_real_images_come_in(mode: str) -> None:
    image = Image.new("RGB", (16, 22), (200, 200, 200)).convert(mode)
    assert classifier_input(image).shape == (1, 64, 64)


def test_tile_input_normalises_per_channel() -> None:
    tile = Image.new("RGB", (128, 128), (255, 0, 128))
    x = tile_input(tile)
    assert x.shape == (3, 64, 64)
    expected = (np.array([1.0, 0.0, 128 / 255]) - np.array(TILE_MEAN)) / np.array(TILE_STD)
    assert np.allclose(x[:, 10, 10], expected, atol=1e-5)


def test_an_edge_tile_is_padded_square_before_resizing() -> None:
    tile = Image.new("RGB", (128, 50), (10, 80, 120))
    x = tile_input(tile)
    assert x.shape == (3, 64, 64)
    assert np.allclose(x, x[:, :1, :1])  # padded with its own colour: uniform


def test_letterbox_keeps_aspect_pads_with_114_and_maps_boxes() -> None:
    image = Image.new("RGB", (640, 320), (255, 255, 255))
    x, geometry = letterbox(image)
    assert x.shape == (3, 320, 320)
    assert geometry.scale == 0.5
    assert (geometry.pad_x, geometry.pad_y) == (0, 80)
    assert np.allclose(x[:, :80], LETTERBOX_FILL / 255)
    assert np.allclose(x[:, 80:240], 1.0)
    assert np.allclose(x[:, 240:], LETTERBOX_FILL / 255)
    boxes = geometry.to_input(np.array([[0, 0, 640, 320], [100, 50, 200, 150]], dtype=np.float32))
    assert np.allclose(boxes, [[0, 80, 320, 240], [50, 105, 100, 155]])
