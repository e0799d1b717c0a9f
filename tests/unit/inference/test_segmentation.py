"""Regions of a scan and the organism of a vignette, on synthetic images whose content is known."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from aquaflow_inference.features import FEATURES
from aquaflow_inference.segmentation import SegmentationParams, measure_vignette, segment

BACKGROUND, ORGANISM = 220, 50
DEFAULTS = SegmentationParams()


def scan(
    width: int = 240, height: int = 200, level: int = BACKGROUND
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int_], npt.NDArray[np.int_]]:
    yy, xx = np.mgrid[:height, :width]
    return np.full((height, width), level, dtype=np.uint8), xx, yy


def test_a_disc_is_one_region_with_its_features_box_and_crop() -> None:
    pixels, xx, yy = scan()
    radius, cx, cy = 20, 100, 90
    pixels[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2] = ORGANISM
    found = segment(Image.fromarray(pixels), DEFAULTS)
    assert found.total == 1
    (region,) = found.regions
    f = region.features
    assert set(f) == set(FEATURES)
    assert f["object_area"] == pytest.approx(math.pi * radius**2, rel=0.01)
    assert f["object_esd"] == pytest.approx(2 * radius, abs=0.5)
    assert f["object_perimeter"] == pytest.approx(2 * math.pi * radius, rel=0.02)
    assert f["object_circularity"] == pytest.approx(1.0, abs=0.02)
    assert (f["object_mean"], f["object_min"], f["object_max"]) == (ORGANISM, ORGANISM, ORGANISM)
    assert (f["object_x"], f["object_y"]) == (cx, cy)
    assert (f["object_bx"], f["object_by"], f["object_width"], f["object_height"]) == (80, 70, 41, 41)
    assert region.bbox == (80, 70, 121, 111)
    assert region.crop.size == (41 + 8, 41 + 8)  # a margin of 4 pixels around the organism


def test_regions_come_largest_first_and_the_rest_are_counted() -> None:
    pixels, xx, yy = scan(400, 300)
    for i, radius in enumerate([8, 25, 15]):
        pixels[(xx - 60 - 120 * i) ** 2 + (yy - 150) ** 2 <= radius**2] = ORGANISM
    found = segment(Image.fromarray(pixels), SegmentationParams(max_regions=2))
    assert found.total == 3
    assert [r.features["object_x"] for r in found.regions] == [180, 300]


def test_the_smallest_region_kept_is_an_absolute_area_whatever_the_image_size() -> None:
    """The old rule (0.05 % of the image) dropped every organism under 6000 px on a 4000x3000 scan."""
    pixels, xx, yy = scan(4000, 3000)
    pixels[(xx - 1000) ** 2 + (yy - 1000) ** 2 <= 12**2] = ORGANISM  # 441 px
    pixels[(xx - 3000) ** 2 + (yy - 2000) ** 2 <= 3**2] = ORGANISM  # 29 px: dust
    found = segment(Image.fromarray(pixels), SegmentationParams(min_area_px=50))
    assert found.total == 1
    assert found.regions[0].features["object_area"] == pytest.approx(math.pi * 144, rel=0.03)
    assert segment(Image.fromarray(pixels), SegmentationParams(min_area_px=20)).total == 2
    assert segment(Image.fromarray(pixels), SegmentationParams(min_area_px=500)).total == 0


def test_pale_appendages_stay_with_their_organism() -> None:
    """A dark body with long pale antennae (30 levels of contrast): Otsu cut the antennae off."""
    pixels, xx, yy = scan(600, 400)
    body = ((xx - 300) / 60) ** 2 + ((yy - 200) / 25) ** 2 <= 1
    antennae = ((np.abs(yy - 200 - (xx - 360) * 0.4) <= 1.5) & (xx >= 355) & (xx <= 560)) | (
        (np.abs(yy - 200 + (xx - 360) * 0.4) <= 1.5) & (xx >= 355) & (xx <= 560)
    )
    pixels[antennae] = BACKGROUND - 30
    pixels[body] = 40
    noise = np.random.default_rng(0).normal(0, 2, pixels.shape)
    image = Image.fromarray(np.clip(pixels + noise, 0, 255).round().astype(np.uint8))
    (region,) = segment(image, DEFAULTS).regions
    assert region.features["object_area"] == pytest.approx(float((body | antennae).sum()), rel=0.03)
    assert region.bbox[2] >= 560


def test_a_background_gradient_is_followed_not_thresholded() -> None:
    """Left edge 60 levels darker than the right: a fixed cut would take the left side as organism."""
    _, xx, yy = scan(800, 600)
    shaded = (170 + 60 * xx / 800).astype(np.float64)
    for cx in (100, 400, 700):
        shaded[(xx - cx) ** 2 + (yy - 300) ** 2 <= 30**2] -= 40
    noise = np.random.default_rng(1).normal(0, 2, shaded.shape)
    image = Image.fromarray(np.clip(shaded + noise, 0, 255).round().astype(np.uint8))
    found = segment(image, DEFAULTS)
    assert found.total == 3
    for region in found.regions:
        assert region.features["object_area"] == pytest.approx(math.pi * 30**2, rel=0.03)


@pytest.mark.parametrize("polarity", ["bright_on_dark", "auto"])
def test_bright_organisms_on_a_dark_background(polarity: str) -> None:
    """UVP images: with dark_on_light the background itself was the one region."""
    pixels, xx, yy = scan(level=15)
    pixels[(xx - 60) ** 2 + (yy - 60) ** 2 <= 15**2] = 200
    pixels[(xx - 170) ** 2 + (yy - 130) ** 2 <= 25**2] = 150
    found = segment(Image.fromarray(pixels), SegmentationParams(polarity=polarity))  # type: ignore[arg-type]
    assert found.total == 2
    assert [r.features["object_mean"] for r in found.regions] == [150, 200]
    assert found.regions[0].features["object_area"] == pytest.approx(math.pi * 25**2, rel=0.02)


def test_auto_polarity_finds_dark_organisms_on_a_light_background() -> None:
    pixels, xx, yy = scan()
    pixels[(xx - 100) ** 2 + (yy - 100) ** 2 <= 20**2] = ORGANISM
    found = segment(Image.fromarray(pixels), SegmentationParams(polarity="auto"))
    assert found.total == 1
    assert found.regions[0].features["object_mean"] == ORGANISM


def test_a_fixed_grey_level_decides_what_is_an_organism() -> None:
    pixels, xx, yy = scan()
    pixels[(xx - 100) ** 2 + (yy - 100) ** 2 <= 15**2] = 150  # faint
    image = Image.fromarray(pixels)
    assert segment(image, SegmentationParams(grey_threshold=100)).total == 0
    assert segment(image, SegmentationParams(grey_threshold=200)).total == 1
    assert segment(image, DEFAULTS).total == 1  # 70 levels of contrast: plenty without a fixed level


def test_a_region_inside_another_ones_hole_belongs_to_it() -> None:
    pixels, xx, yy = scan()
    r2 = (xx - 120) ** 2 + (yy - 100) ** 2
    pixels[(r2 <= 40**2) & (r2 >= 37**2)] = ORGANISM  # a thin ring
    pixels[r2 <= 30**2] = ORGANISM  # a disc in its hole, with more pixels than the ring
    (region,) = segment(Image.fromarray(pixels), DEFAULTS).regions
    assert region.features["object_area"] == pytest.approx(math.pi * 40**2, rel=0.02)
    assert region.features["object_area_exc"] == pytest.approx(math.pi * (40**2 - 37**2 + 30**2), rel=0.03)


def test_a_pixel_size_gives_the_measures_in_millimetres() -> None:
    pixels, xx, yy = scan()
    pixels[(xx - 100) ** 2 + (yy - 100) ** 2 <= 20**2] = ORGANISM
    (region,) = segment(Image.fromarray(pixels), SegmentationParams(pixel_size_mm=0.0106)).regions
    f = region.features
    assert f["object_esd_mm"] == pytest.approx(f["object_esd"] * 0.0106, abs=1e-4)
    assert f["object_area_mm2"] == pytest.approx(f["object_area"] * 0.0106**2, abs=1e-4)


@pytest.mark.parametrize("level", [0, 200, 255])
def test_a_uniform_image_has_no_regions(level: int) -> None:
    image = Image.new("L", (50, 50), level)
    assert segment(image, DEFAULTS).total == 0
    assert measure_vignette(image, DEFAULTS) == segment(image, DEFAULTS)


def test_a_sixteen_bit_scan_is_segmented_on_its_own_range() -> None:
    pixels, xx, yy = scan()
    twelve_bit = pixels.astype(np.uint16) * 16  # 12-bit data in a 16-bit image
    found = segment(Image.fromarray(twelve_bit), DEFAULTS)
    assert found.total == 0
    twelve_bit[(xx - 100) ** 2 + (yy - 100) ** 2 <= 20**2] = ORGANISM * 16
    (region,) = segment(Image.fromarray(twelve_bit), DEFAULTS).regions
    assert region.features["object_mean"] == ORGANISM
    assert region.crop.mode == "L"


def test_a_vignette_yields_its_central_organism_not_the_specks_around_it() -> None:
    pixels, xx, yy = scan(120, 100, level=255)
    pixels[((xx - 60) / 30) ** 2 + ((yy - 45) / 14) ** 2 <= 1] = 90  # the organism
    pixels[(xx - 3) ** 2 + (yy - 3) ** 2 <= 2**2] = 60  # a neighbour's corner, cut by the edge
    pixels[(xx - 110) ** 2 + (yy - 90) ** 2 <= 3**2] = 60  # a speck
    found = measure_vignette(Image.fromarray(pixels), DEFAULTS)
    assert found.total == 1
    (region,) = found.regions
    assert region.bbox == (30, 31, 91, 60)


def test_a_vignette_organism_is_kept_even_under_the_minimum_area() -> None:
    pixels, xx, yy = scan(20, 20, level=255)
    pixels[(xx - 10) ** 2 + (yy - 10) ** 2 <= 3**2] = 60  # 29 px
    (region,) = measure_vignette(Image.fromarray(pixels), DEFAULTS).regions
    assert region.features["object_area"] == 29


def test_fragments_a_pixel_apart_are_one_organism() -> None:
    pixels, _, _ = scan(120, 100, level=255)
    pixels[40:60, 30:60] = 80
    pixels[40:60, 61:90] = 80  # a limb the threshold separated from it by one pixel
    (region,) = measure_vignette(Image.fromarray(pixels), DEFAULTS).regions
    assert region.bbox == (30, 40, 90, 60)
    assert region.features["object_area"] == 20 * (30 + 29)  # the gap is not organism


def test_a_vignette_scale_bar_caption_and_corner_marks_are_not_the_organism() -> None:
    """A ZooProcess-like vignette drawn from scratch: the legend's ink is darker than the organism."""
    pixels, xx, yy = scan(90, 100, level=255)
    pixels[((xx - 45) / 25) ** 2 + ((yy - 35) / 15) ** 2 <= 1] = 150  # the organism
    pixels[17, 15:26] = 0  # top-left corner mark
    pixels[17:28, 15] = 0
    pixels[45, 62:73] = 0  # bottom-right corner mark, drawn over the organism's edge
    pixels[35:46, 72] = 0
    pixels[92:94, 8:20] = 0  # scale bar
    for x in range(8, 60, 5):  # caption glyphs
        pixels[80:88, x : x + 2] = 0
        pixels[80, x : x + 4] = 0
    found = measure_vignette(Image.fromarray(pixels), DEFAULTS)
    (region,) = found.regions
    assert region.bbox == (20, 20, 71, 51)
    assert region.features["object_min"] == 150
    assert region.features["object_area"] == pytest.approx(math.pi * 25 * 15, rel=0.03)
