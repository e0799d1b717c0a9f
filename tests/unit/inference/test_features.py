"""Region features against shapes whose measures are known: discs, ellipses, turned rectangles.

The shapes are digitised as a scanner would see them: a pixel is object when at least half of
its square lies inside the shape (16x16 sub-samples per pixel), at random sub-pixel positions.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from scipy.spatial import ConvexHull
from skimage.measure import regionprops

from aquaflow_inference.features import FEATURES, measure
from aquaflow_inference.perimeter import perimeter

Mask = npt.NDArray[np.bool_]
SUBSAMPLES = 16
DOCS = Path(__file__).resolve().parents[3] / "docs" / "features.md"


def digitised(inside: object, half_size: int, rng: np.random.Generator) -> Mask:
    """Pixels of a (2·half_size)² window more than half covered by ``inside(x, y)``, centred at random."""
    size = 2 * half_size
    offset = rng.uniform(-0.5, 0.5, size=2)
    steps = (np.arange(size * SUBSAMPLES) + 0.5) / SUBSAMPLES - half_size
    y, x = np.meshgrid(steps - offset[1], steps - offset[0], indexing="ij")
    covered = inside(x, y).reshape(size, SUBSAMPLES, size, SUBSAMPLES).mean(axis=(1, 3))  # type: ignore[operator]
    return covered >= 0.5  # type: ignore[no-any-return]


def disc(radius: float, rng: np.random.Generator) -> Mask:
    return digitised(lambda x, y: x**2 + y**2 <= radius**2, int(radius) + 4, rng)


def ellipse(a: float, b: float, angle_deg: float, rng: np.random.Generator) -> Mask:
    t = math.radians(angle_deg)

    def inside(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        u = x * math.cos(t) - y * math.sin(t)  # y points down: a turn counter-clockwise on screen
        v = x * math.sin(t) + y * math.cos(t)
        return (u / a) ** 2 + (v / b) ** 2 <= 1  # type: ignore[no-any-return]

    return digitised(inside, int(a) + 4, rng)


def rectangle(length: float, width: float, angle_deg: float, rng: np.random.Generator) -> Mask:
    t = math.radians(angle_deg)

    def inside(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        u = x * math.cos(t) - y * math.sin(t)
        v = x * math.sin(t) + y * math.cos(t)
        return (np.abs(u) <= length / 2) & (np.abs(v) <= width / 2)  # type: ignore[no-any-return]

    return digitised(inside, int(math.hypot(length, width) / 2) + 4, rng)


def features_of(mask: Mask, grey: npt.NDArray[np.float32] | None = None, **options: float) -> dict[str, float]:
    grey = np.full(mask.shape, 50, dtype=np.float32) if grey is None else grey
    return measure(mask, mask, grey, (0, 0), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("radius", [8, 10, 14, 20, 31, 45, 80])
@pytest.mark.parametrize("seed", range(3))
def test_a_digitised_disc_has_the_measures_of_a_disc(radius: float, seed: int) -> None:
    f = features_of(disc(radius, np.random.default_rng(seed)))
    assert f["object_area"] == pytest.approx(math.pi * radius**2, rel=0.03)
    assert f["object_perimeter"] == pytest.approx(2 * math.pi * radius, rel=0.02)
    assert f["object_circularity"] == pytest.approx(1.0, abs=0.02)
    assert f["object_esd"] == pytest.approx(2 * radius, rel=0.015)
    assert f["object_major"] == pytest.approx(2 * radius, rel=0.02)
    assert f["object_minor"] == pytest.approx(2 * radius, rel=0.02)
    assert f["object_elongation"] == pytest.approx(1.0, abs=max(0.01, 0.4 / radius))
    assert f["object_eccentricity"] < 0.3
    assert 2 * radius - 0.5 <= f["object_feret"] <= 2 * radius + 1.5  # the hull of the pixel squares
    assert f["object_solidity"] > 0.95
    assert f["object_extent"] == pytest.approx(math.pi / 4, rel=0.06)


@pytest.mark.parametrize(("a", "b"), [(30, 10), (40, 25), (22, 6)])
@pytest.mark.parametrize("angle", [0, 17, 30, 45, 71, 90, 133])
def test_an_ellipse_has_its_axes_orientation_and_eccentricity(a: float, b: float, angle: float) -> None:
    f = features_of(ellipse(a, b, angle, np.random.default_rng(angle)))
    h = ((a - b) / (a + b)) ** 2
    ramanujan = math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))
    assert f["object_area"] == pytest.approx(math.pi * a * b, rel=0.02)
    assert f["object_major"] == pytest.approx(2 * a, rel=0.02)
    assert f["object_minor"] == pytest.approx(2 * b, rel=0.04)
    assert f["object_elongation"] == pytest.approx(a / b, rel=0.05)
    assert f["object_eccentricity"] == pytest.approx(math.sqrt(1 - b**2 / a**2), abs=0.02)
    assert abs((f["object_angle"] - angle + 90) % 180 - 90) < 2.0
    assert f["object_perimeter"] == pytest.approx(ramanujan, rel=0.025)
    assert 2 * a - 0.5 <= f["object_feret"] <= 2 * a + 1.5
    assert f["object_solidity"] > 0.9


@pytest.mark.parametrize(("length", "width"), [(60, 20), (41, 41), (120, 12)])
@pytest.mark.parametrize("angle", [0, 10, 22.5, 30, 45, 60, 80])
def test_a_turned_rectangle_keeps_its_area_perimeter_feret_and_axes(length: float, width: float, angle: float) -> None:
    f = features_of(rectangle(length, width, angle, np.random.default_rng(int(angle * 10))))
    assert f["object_area"] == pytest.approx(length * width, rel=0.02)
    assert f["object_perimeter"] == pytest.approx(2 * (length + width), rel=0.03)
    assert f["object_feret"] == pytest.approx(math.hypot(length, width), abs=1.5)
    # ImageJ's ellipse: the rectangle's second moments, the rectangle's area.
    assert f["object_major"] == pytest.approx(2 * length / math.sqrt(math.pi), rel=0.02)
    assert f["object_minor"] == pytest.approx(2 * width / math.sqrt(math.pi), rel=0.04)
    assert f["object_elongation"] == pytest.approx(length / width, rel=0.05)
    assert f["object_solidity"] > 0.9
    if length != width:
        assert abs((f["object_angle"] - angle + 90) % 180 - 90) < 1.5


def test_turning_a_square_changes_its_perimeter_by_under_2_percent() -> None:
    rng = np.random.default_rng(7)
    outlines = {angle: perimeter(rectangle(40, 40, angle, rng)) for angle in np.arange(0, 90, 7.5)}
    assert abs(outlines[30] / outlines[0] - 1) < 0.02
    assert (max(outlines.values()) - min(outlines.values())) / min(outlines.values()) < 0.02
    assert np.mean(list(outlines.values())) == pytest.approx(160, rel=0.02)


def test_a_staircase_count_would_fail_where_the_estimator_holds() -> None:
    """The crack length (pixel edges) of a disc, the old measure, is 27 % long; ours is not."""
    mask = disc(30, np.random.default_rng(3))
    padded = np.pad(mask, 1).astype(np.int8)
    crack = np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum()
    assert crack / (2 * math.pi * 30) > 1.2
    assert perimeter(mask) / (2 * math.pi * 30) == pytest.approx(1.0, abs=0.02)


def test_holes_count_in_the_area_but_not_in_the_area_exc() -> None:
    yy, xx = np.mgrid[:50, :50]
    filled = (xx - 25) ** 2 + (yy - 25) ** 2 <= 20**2
    ring = filled & ((xx - 25) ** 2 + (yy - 25) ** 2 > 8**2)
    f = measure(filled, ring, np.full(filled.shape, 50, dtype=np.float32), (0, 0))
    assert f["object_area"] == filled.sum()
    assert f["object_area_exc"] == ring.sum()
    assert f["object_perimeter"] == pytest.approx(2 * math.pi * 20, rel=0.02)  # the outline only


def test_grey_level_statistics_are_those_of_the_region_pixels() -> None:
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:15, 5:25] = True  # 200 pixels: 100 at 40, 100 at 100
    grey = np.full(mask.shape, 230, dtype=np.float32)
    grey[5:15, 5:15] = 40
    grey[5:15, 15:25] = 100
    f = measure(mask, mask, grey, (0, 0))
    values = grey[mask]
    assert f["object_mean"] == 70
    assert f["object_median"] == 70
    assert (f["object_min"], f["object_max"], f["object_range"]) == (40, 100, 60)
    assert f["object_stddev"] == pytest.approx(values.std(ddof=1), abs=1e-3)
    assert f["object_skew"] == 0
    assert f["object_kurt"] == pytest.approx(-2.0)  # two equal spikes: the flattest law there is


def test_positions_are_those_of_the_whole_image() -> None:
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:15, 5:25] = True
    f = measure(mask, mask, np.zeros(mask.shape, dtype=np.float32), (100, 200))
    assert (f["object_bx"], f["object_by"], f["object_width"], f["object_height"]) == (105, 205, 20, 10)
    assert (f["object_x"], f["object_y"]) == (114.5, 209.5)
    assert f["object_extent"] == 1.0


def test_a_pixel_size_adds_lengths_in_mm_and_areas_in_mm2() -> None:
    mask = disc(20, np.random.default_rng(0))
    pixels = features_of(mask)
    f = features_of(mask, pixel_size_mm=0.0106)  # ZooScan at 2400 dpi
    lengths = {n for n, spec in FEATURES.items() if spec.dimension == 1}
    areas = {n for n, spec in FEATURES.items() if spec.dimension == 2}
    assert set(f) == set(pixels) | {f"{n}_mm" for n in lengths} | {f"{n}_mm2" for n in areas}
    assert f["object_esd_mm"] == pytest.approx(pixels["object_esd"] * 0.0106, abs=1e-4)
    assert f["object_area_mm2"] == pytest.approx(pixels["object_area"] * 0.0106**2, abs=1e-4)
    assert f["object_perimeter_mm"] == pytest.approx(pixels["object_perimeter"] * 0.0106, abs=1e-4)
    assert {n: f[n] for n in pixels} == pixels


def test_every_feature_is_measured_and_documented() -> None:
    f = features_of(disc(10, np.random.default_rng(0)))
    assert set(f) == set(FEATURES)
    documented = DOCS.read_text()
    for name in [*FEATURES, "object_esd_mm", "object_area_mm2"]:
        assert f"`{name}`" in documented, name


@pytest.mark.parametrize("shape", ["disc", "ellipse", "rectangle"])
def test_convex_area_and_solidity_agree_with_scikit_image(shape: str) -> None:
    rng = np.random.default_rng(11)
    mask = {"disc": disc(17, rng), "ellipse": ellipse(30, 9, 37, rng), "rectangle": rectangle(50, 14, 23, rng)}[shape]
    (reference,) = regionprops(mask.astype(np.uint8))
    f = features_of(mask)
    assert f["object_convarea"] == reference.area_convex
    assert f["object_solidity"] == pytest.approx(reference.solidity, abs=1e-4)
    assert f["object_eccentricity"] == pytest.approx(reference.eccentricity, abs=0.01)


def hull_by_qhull(mask: Mask) -> tuple[float, float]:
    """Convex area and Feret diameter straight from their definitions, with SciPy's Qhull."""
    rows, cols = np.nonzero(mask)
    centres = np.column_stack([cols, rows]).astype(np.float64)
    corners = np.concatenate([centres + shift for shift in ((-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5))])
    corners = corners[ConvexHull(corners).vertices]
    feret = float(np.sqrt(((corners[:, None, :] - corners[None, :, :]) ** 2).sum(axis=2).max()))
    midpoints = np.concatenate([centres + shift for shift in ((-0.5, 0.0), (0.5, 0.0), (0.0, -0.5), (0.0, 0.5))])
    sides = ConvexHull(midpoints).equations
    y, x = np.mgrid[: mask.shape[0], : mask.shape[1]]
    points = np.column_stack([x.ravel(), y.ravel()]).astype(np.float64)
    inside = (points @ sides[:, :2].T + sides[:, 2] <= 1e-9).all(axis=1)
    return float(inside.sum()), feret


def test_convex_area_and_feret_are_those_of_the_hull_qhull_finds_on_any_shape() -> None:
    rng = np.random.default_rng(5)
    for i in range(200):
        height, width = (int(n) for n in rng.integers(1, 40, 2))
        mask = rng.random((height, width)) < [0.05, 0.5, 0.9][i % 3]
        if i % 4 == 0:  # a line at some angle: collinear pixels
            mask[:] = False
            y0, y1 = rng.integers(0, height, 2)
            x0, x1 = rng.integers(0, width, 2)
            steps = max(abs(int(y1) - int(y0)), abs(int(x1) - int(x0))) + 1
            mask[np.linspace(y0, y1, steps).round().astype(int), np.linspace(x0, x1, steps).round().astype(int)] = True
        if not mask.any():
            continue
        area, feret = hull_by_qhull(mask)
        f = features_of(mask)
        assert f["object_convarea"] == area
        assert f["object_feret"] == round(feret, 4)
