"""ZooProcess-style regions and their EcoTaxa features, checked against shapes with known geometry."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from aquaflow_devstack.samples import real_images
from aquaflow_inference.imaging import decode_image
from aquaflow_inference.segmentation import segment

BACKGROUND, ORGANISM = 220, 50
ECOTAXA_COLUMNS = {
    "object_area",
    "object_perimeter",
    "object_major",
    "object_minor",
    "object_esd",
    "object_eccentricity",
    "object_solidity",
    "object_extent",
    "object_circularity",
    "object_elongation",
    "object_mean",
    "object_min",
    "object_max",
    "object_bx",
    "object_by",
    "object_width",
    "object_height",
    "object_x",
    "object_y",
}


def scan(
    width: int = 240, height: int = 200
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int_], npt.NDArray[np.int_]]:
    yy, xx = np.mgrid[:height, :width]
    return np.full((height, width), BACKGROUND, dtype=np.uint8), xx, yy


def test_a_disc_has_the_area_diameter_and_roundness_of_a_disc() -> None:
    pixels, xx, yy = scan()
    radius, cx, cy = 20, 100, 90
    pixels[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2] = ORGANISM
    found = segment(Image.fromarray(pixels), max_regions=10)
    assert found.total == 1
    (region,) = found.regions
    f = region.features
    assert set(f) == ECOTAXA_COLUMNS
    assert f["object_area"] == pytest.approx(math.pi * radius**2, rel=0.01)
    assert f["object_esd"] == pytest.approx(2 * radius, abs=0.5)  # diameter of the disc of equal area
    assert f["object_perimeter"] == pytest.approx(2 * math.pi * radius, rel=0.06)
    assert f["object_circularity"] == pytest.approx(1.0, abs=0.1)
    assert f["object_circularity"] == pytest.approx(
        4 * math.pi * f["object_area"] / f["object_perimeter"] ** 2, abs=1e-3
    )
    assert f["object_major"] == pytest.approx(2 * radius, abs=0.5)
    assert f["object_minor"] == pytest.approx(2 * radius, abs=0.5)
    assert f["object_elongation"] == pytest.approx(1.0, abs=0.01)
    assert f["object_eccentricity"] == pytest.approx(0.0, abs=0.05)
    assert f["object_solidity"] > 0.95
    assert f["object_extent"] == pytest.approx(f["object_area"] / (f["object_width"] * f["object_height"]), abs=1e-3)
    assert f["object_extent"] == pytest.approx(math.pi / 4, abs=0.05)
    assert (f["object_mean"], f["object_min"], f["object_max"]) == (ORGANISM, ORGANISM, ORGANISM)
    assert (f["object_x"], f["object_y"]) == (cx, cy)
    assert (f["object_bx"], f["object_by"], f["object_width"], f["object_height"]) == (80, 70, 41, 41)
    assert region.bbox == (80, 70, 121, 111)
    assert region.crop.size == (41 + 8, 41 + 8)  # a margin of 4 pixels around the organism


def test_a_disc_and_a_rectangle_are_two_regions_largest_first() -> None:
    pixels, xx, yy = scan(320, 240)
    radius = 25
    pixels[(xx - 80) ** 2 + (yy - 100) ** 2 <= radius**2] = 30
    shading = np.linspace(60, 100, 120).round().astype(np.uint8)  # darker on the left
    pixels[150:180, 170:290] = shading[None, :]  # 120 x 30: aspect ratio 4
    found = segment(Image.fromarray(pixels), max_regions=10)
    assert found.total == 2
    rectangle, disc = (r.features for r in found.regions)
    assert [r.bbox for r in found.regions] == [(170, 150, 290, 180), (55, 75, 106, 126)]
    for f in (rectangle, disc):
        assert all(key.startswith("object_") for key in f)
        assert set(f) == ECOTAXA_COLUMNS
    assert rectangle["object_area"] == 120 * 30
    assert rectangle["object_extent"] == pytest.approx(1.0, abs=1e-6)
    assert rectangle["object_solidity"] == pytest.approx(1.0, abs=1e-6)
    assert rectangle["object_elongation"] == pytest.approx(4.0, rel=0.01)
    assert (rectangle["object_min"], rectangle["object_max"]) == (60, 100)
    assert rectangle["object_mean"] == pytest.approx(float(shading.mean()), abs=0.01)
    assert (rectangle["object_x"], rectangle["object_y"]) == (229.5, 164.5)
    assert disc["object_area"] == pytest.approx(math.pi * radius**2, rel=0.01)
    assert disc["object_esd"] == pytest.approx(2 * radius, abs=0.5)
    assert disc["object_circularity"] == pytest.approx(1.0, abs=0.1)
    assert disc["object_elongation"] == pytest.approx(1.0, abs=0.01)
    assert (disc["object_min"], disc["object_mean"], disc["object_max"]) == (30, 30, 30)
    assert (disc["object_x"], disc["object_y"]) == (80, 100)


def test_an_ellipse_has_its_axes_elongation_and_eccentricity() -> None:
    pixels, xx, yy = scan()
    a, b = 30, 10
    pixels[((xx - 120) / a) ** 2 + ((yy - 100) / b) ** 2 <= 1] = ORGANISM
    (region,) = segment(Image.fromarray(pixels), max_regions=10).regions
    f = region.features
    assert f["object_area"] == pytest.approx(math.pi * a * b, rel=0.01)
    assert f["object_major"] == pytest.approx(2 * a, rel=0.02)
    assert f["object_minor"] == pytest.approx(2 * b, rel=0.02)
    assert f["object_elongation"] == pytest.approx(a / b, rel=0.03)
    assert f["object_eccentricity"] == pytest.approx(math.sqrt(1 - b**2 / a**2), abs=0.01)


def test_grey_levels_are_measured_inside_the_region() -> None:
    pixels, xx, yy = scan()
    inside = (np.abs(xx - 60) <= 15) & (np.abs(yy - 60) <= 15)
    pixels[inside] = np.where(xx[inside] < 60, 40, 100)
    (region,) = segment(Image.fromarray(pixels), max_regions=10).regions
    f = region.features
    assert (f["object_min"], f["object_max"]) == (40, 100)
    assert f["object_mean"] == pytest.approx((15 * 40 + 16 * 100) / 31, abs=0.01)
    assert f["object_solidity"] == 1.0
    assert f["object_extent"] == 1.0


def test_regions_come_largest_first_specks_are_dropped_and_the_rest_are_counted() -> None:
    pixels, xx, yy = scan(400, 300)
    for i, radius in enumerate([8, 25, 15]):
        pixels[(xx - 60 - 120 * i) ** 2 + (yy - 150) ** 2 <= radius**2] = ORGANISM
    pixels[10:12, 10:12] = ORGANISM  # dust: 4 pixels
    found = segment(Image.fromarray(pixels), max_regions=2)
    assert found.total == 3
    assert [r.features["object_x"] for r in found.regions] == [180, 300]


def test_a_fixed_grey_level_decides_what_is_an_organism() -> None:
    pixels, xx, yy = scan()
    pixels[(xx - 100) ** 2 + (yy - 100) ** 2 <= 15**2] = 150  # faint
    image = Image.fromarray(pixels)
    assert segment(image, max_regions=10, grey_threshold=100).total == 0
    assert segment(image, max_regions=10, grey_threshold=200).total == 1


def test_a_uniform_scan_has_no_regions() -> None:
    assert segment(Image.new("L", (50, 50), 200), max_regions=10).total == 0


def test_real_zooscan_vignettes_give_at_least_one_sensible_region() -> None:
    vignettes = [s for s in real_images() if s.key.startswith("import_test/") and not s.corrupt]
    assert vignettes
    for sample in vignettes:
        image = decode_image(sample.path.read_bytes(), max_pixels=60_000_000)
        found = segment(image, max_regions=50)
        assert found.regions, sample.key
        largest = found.regions[0].features
        assert 0 < largest["object_area"] <= image.width * image.height
        assert 0 < largest["object_solidity"] <= 1
        assert largest["object_min"] <= largest["object_mean"] <= largest["object_max"]
