"""Images → model inputs as docs/model-contract.md says, and boxes mapped back to the original."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from aquaflow_devstack.samples import Sample, real_images
from aquaflow_inference.imaging import decode_image
from aquaflow_inference.preprocess import batch_inputs, border_colour, to_model_input
from aquaflow_inference.spec import PRESETS, ModelSpec, Normalisation
from aquaflow_inference.tiling import tiles
from tests.unit.inference.support import repository_spec
from training.preprocess import classifier_input, letterbox, tile_input

PLANKTON = repository_spec("plankton_classifier")
DETECTOR = repository_spec("fish_detector")
TILES = repository_spec("litter_tiles")
SOUND = [s for s in real_images() if not s.corrupt]


def test_pad_square_fills_with_the_border_colour_then_inverts_and_normalises() -> None:
    pixels = np.full((32, 64), 200, dtype=np.uint8)
    pixels[12:20, 24:40] = 20  # a dark organism
    tensor, _ = to_model_input(Image.fromarray(pixels), PLANKTON)
    assert tensor.shape == (1, 64, 64)
    assert tensor.dtype == np.float32
    mean, std = PLANKTON.normalisation.mean[0], PLANKTON.normalisation.std[0]
    background = ((1 - 200 / 255) - mean) / std
    organism = ((1 - 20 / 255) - mean) / std
    # Padding above and below the image is background, not black.
    assert tensor[0, :16] == pytest.approx(background, abs=1e-5)
    assert tensor[0, 48:] == pytest.approx(background, abs=1e-5)
    assert tensor[0, 32, 32] == pytest.approx(organism, abs=1e-5)


def test_no_inversion_and_per_channel_normalisation() -> None:
    tensor, _ = to_model_input(Image.new("RGB", (128, 128), (255, 0, 128)), TILES)
    expected = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    assert tensor.shape == (3, 64, 64)
    assert tensor.reshape(3, -1).mean(axis=1) == pytest.approx(expected, abs=1e-5)


def test_border_colour_is_the_median_of_the_outer_ring() -> None:
    pixels = np.full((10, 10, 3), (240, 230, 220), dtype=np.uint8)
    pixels[0, 0] = (0, 0, 0)
    pixels[4:6, 4:6] = (0, 0, 0)
    assert border_colour(Image.fromarray(pixels)) == (240, 230, 220)


def test_letterbox_pads_with_grey_114_and_keeps_the_aspect_ratio() -> None:
    tensor, placement = to_model_input(Image.new("RGB", (640, 320), (0, 0, 0)), DETECTOR)
    assert tensor.shape == (3, 320, 320)
    assert (placement.scale, placement.pad_x, placement.pad_y) == (0.5, 0, 80)
    assert tensor[:, :80] == pytest.approx(114 / 255, abs=1e-6)
    assert tensor[:, 240:] == pytest.approx(114 / 255, abs=1e-6)
    assert tensor[:, 80:240] == pytest.approx(0.0)


@pytest.mark.parametrize("spec", [DETECTOR, PLANKTON])
@pytest.mark.parametrize("size", [(640, 320), (200, 500), (300, 300)])
def test_boxes_found_in_the_model_input_map_back_to_the_original_pixels(spec: ModelSpec, size: tuple[int, int]) -> None:
    width, height = size
    pixels = np.full((height, width), 230, dtype=np.uint8)
    box = (width // 4, height // 3, width // 2, height // 2)  # x1, y1, x2, y2
    pixels[box[1] : box[3], box[0] : box[2]] = 0
    model_spec = dataclasses.replace(spec, normalisation=Normalisation())
    tensor, placement = to_model_input(Image.fromarray(pixels).convert("RGB"), model_spec)
    dark = np.argwhere(tensor[0] < 0.25)  # the organism, not the grey 114 letterbox
    found = np.array([[dark[:, 1].min(), dark[:, 0].min(), dark[:, 1].max() + 1, dark[:, 0].max() + 1]], np.float32)
    mapped = placement.to_original(found, width, height)[0]
    # Within the resampling blur: a couple of input pixels, in original pixels.
    assert mapped == pytest.approx(box, abs=2.5 / placement.scale)


def test_mapped_boxes_are_clipped_to_the_image() -> None:
    _, placement = to_model_input(Image.new("RGB", (640, 320)), DETECTOR)
    mapped = placement.to_original(np.array([[-10, 60, 330, 300]], np.float32), 640, 320)
    assert mapped.tolist() == [[0, 0, 640, 320]]


def test_batches_stack_one_input_per_image() -> None:
    images = [Image.new("L", (10 + i, 20), 100) for i in range(5)]
    assert batch_inputs(images, PLANKTON).shape == (5, 1, 64, 64)


@pytest.mark.parametrize("sample", SOUND, ids=lambda s: s.key)
def test_the_service_sends_exactly_the_tensors_the_models_were_trained_on(sample: Sample) -> None:
    """training.preprocess is the reference the models learnt from; the service must agree value for value."""
    image = decode_image(sample.path.read_bytes(), max_pixels=60_000_000)
    np.testing.assert_array_equal(to_model_input(image, PLANKTON)[0], classifier_input(image))
    ours, placement = to_model_input(image, DETECTOR)
    theirs, geometry = letterbox(image)
    np.testing.assert_array_equal(ours, theirs)
    assert (placement.scale, placement.pad_x, placement.pad_y) == (geometry.scale, geometry.pad_x, geometry.pad_y)
    # The litter model sees tiles of the drone image, edge tiles included.
    for tile in tiles(image, TILES.tile_size or 0):
        np.testing.assert_array_equal(to_model_input(tile.image, TILES)[0], tile_input(tile.image))


@pytest.mark.parametrize("sample", SOUND[::7], ids=lambda s: s.key)
def test_letterboxed_boxes_map_back_exactly_to_the_original(sample: Sample) -> None:
    """Boxes placed into the input the way training placed its labels come back through Placement unchanged."""
    image = decode_image(sample.path.read_bytes(), max_pixels=60_000_000)
    width, height = image.size
    _, placement = to_model_input(image, DETECTOR)
    _, geometry = letterbox(image)
    boxes = np.array(
        [[0, 0, width, height], [width * 0.25, height * 0.1, width * 0.6, height * 0.9], [1, 2, 3, 4]], np.float32
    )
    np.testing.assert_allclose(placement.to_original(geometry.to_input(boxes), width, height), boxes, atol=1e-3)


def test_the_real_images_include_odd_shapes() -> None:
    shapes = {decode_image(s.path.read_bytes(), max_pixels=60_000_000).size for s in SOUND}
    assert any(w > h for w, h in shapes)
    assert any(w < h for w, h in shapes)
    assert any(max(w, h) > 128 for w, h in shapes)  # several tiles per image for the litter model
    assert len(SOUND) > 100


# Model forms: layout, colour order and normalisation as the config declares them.
COLOURED = Image.fromarray(np.random.default_rng(3).integers(0, 256, size=(40, 60, 3), dtype=np.uint8))


def test_nhwc_gives_the_nchw_tensor_with_channels_last() -> None:
    nhwc = dataclasses.replace(TILES, layout="NHWC")
    channels_first, _ = to_model_input(COLOURED, TILES)
    channels_last, _ = to_model_input(COLOURED, nhwc)
    assert channels_last.shape == (64, 64, 3)
    assert channels_last.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(channels_last, np.transpose(channels_first, (1, 2, 0)))


def test_bgr_reverses_the_channels_and_their_statistics_follow() -> None:
    bgr = dataclasses.replace(TILES, color="bgr", normalisation=Normalisation())
    rgb = dataclasses.replace(TILES, normalisation=Normalisation())
    np.testing.assert_array_equal(to_model_input(COLOURED, bgr)[0], to_model_input(COLOURED, rgb)[0][::-1])


@pytest.mark.parametrize(
    ("name", "black", "white"),
    [("unit", 0.0, 1.0), ("raw", 0.0, 255.0), ("minus_one_one", -1.0, 1.0)],
)
def test_named_normalisations_map_black_and_white(name: str, black: float, white: float) -> None:
    spec = dataclasses.replace(PLANKTON, normalisation=PRESETS[name])
    pixels = np.zeros((8, 8), dtype=np.uint8)
    pixels[:, 4:] = 255
    tensor, _ = to_model_input(Image.fromarray(pixels), dataclasses.replace(spec, height=8, width=8))
    assert tensor[0, :, 0] == pytest.approx(black)
    assert tensor[0, :, -1] == pytest.approx(white)


def test_imagenet_normalises_each_channel() -> None:
    spec = dataclasses.replace(TILES, normalisation=PRESETS["imagenet"])
    tensor, _ = to_model_input(Image.new("RGB", (64, 64), (255, 0, 51)), spec)
    expected = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (0.2 - 0.406) / 0.225]
    assert tensor.reshape(3, -1).mean(axis=1) == pytest.approx(expected, abs=1e-5)
    # The litter model's explicit mean and std are ImageNet's: the same tensors.
    np.testing.assert_array_equal(to_model_input(COLOURED, spec)[0], to_model_input(COLOURED, TILES)[0])


def test_a_scale_and_inversion_over_raw_pixels() -> None:
    """aquaflow.scale 1 and invert: 255 − pixel, then (x − mean) / std."""
    spec = dataclasses.replace(
        PLANKTON, height=4, width=4, normalisation=Normalisation(denominator=1.0, invert=True, mean=(55.0,), std=(2.0,))
    )
    tensor, _ = to_model_input(Image.new("L", (4, 4), 5), spec)
    assert tensor == pytest.approx(np.full((1, 4, 4), (250 - 55) / 2))
