"""The measures of one region, named as EcoTaxa ``object_*`` columns (pure, numpy).

Definitions follow ZooProcess (ImageJ), which made the ZooScan and UVP columns EcoTaxa users
know, and MorphoCut/PlanktoScope (scikit-image) for the columns ZooProcess lacks. Lengths are
in pixels, areas in pixels², positions in pixel indices of the whole image (a pixel's centre
has integer coordinates), grey levels 0–255 as the 8-bit image stores them (dark organisms
have low values whatever the segmentation's polarity). With a pixel size, every length and
area is given a second time in millimetres: ``<name>_mm`` and ``<name>_mm2``.

The region is measured with its holes filled (ImageJ measures the outline it traced, holes
included); ``object_area_exc`` alone leaves them out. ``FEATURES`` below is the reference,
copied into ``docs/features.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from aquaflow_inference.perimeter import perimeter

Mask = npt.NDArray[np.bool_]
Dimension = Literal[0, 1, 2]  # 0: no unit or a position; 1: a length; 2: an area


@dataclass(frozen=True)
class Feature:
    dimension: Dimension
    definition: str


FEATURES: dict[str, Feature] = {
    "object_area": Feature(2, "pixels of the region, holes filled (ZooProcess Area)"),
    "object_area_exc": Feature(2, "pixels of the region, holes left out (ZooProcess Area_exc)"),
    "object_perimeter": Feature(
        1, "length of the outline, traced half way between region and background and smoothed (ZooProcess Perim.)"
    ),
    "object_convarea": Feature(2, "pixels whose centres lie in the region's convex hull (scikit-image area_convex)"),
    "object_major": Feature(
        1, "major axis of the ellipse of the region's area and second moments (ImageJ Fit Ellipse, ZooProcess Major)"
    ),
    "object_minor": Feature(1, "minor axis of that ellipse (ZooProcess Minor)"),
    "object_angle": Feature(0, "angle of the major axis to the x axis, degrees 0–180 counter-clockwise (Angle)"),
    "object_feret": Feature(
        1, "largest distance between two corners of the region's pixel squares: maximum caliper (ImageJ Feret)"
    ),
    "object_esd": Feature(1, "equivalent spherical diameter: diameter of the disc of the same area, 2√(area/π)"),
    "object_eccentricity": Feature(0, "eccentricity of the ellipse, √(1 − minor²/major²): 0 for a disc"),
    "object_elongation": Feature(0, "major / minor (ZooProcess Elongation)"),
    "object_circularity": Feature(0, "4π·area / perimeter²: 1 for a disc, not capped (ZooProcess Circ.)"),
    "object_solidity": Feature(0, "area / convex area: 1 for a convex region (0.95–1 once digitised turned)"),
    "object_extent": Feature(0, "area / area of the bounding box"),
    "object_mean": Feature(0, "mean grey level of the region's pixels (ZooProcess Mean)"),
    "object_stddev": Feature(0, "standard deviation of those grey levels, n − 1 in the denominator (StdDev)"),
    "object_median": Feature(0, "median grey level (Median)"),
    "object_min": Feature(0, "darkest grey level (Min)"),
    "object_max": Feature(0, "brightest grey level (Max)"),
    "object_range": Feature(0, "max − min (Range)"),
    "object_skew": Feature(0, "skewness of the grey levels, m3/m2^1.5 (Skew)"),
    "object_kurt": Feature(0, "excess kurtosis of the grey levels, m4/m2² − 3: 0 for a normal law (Kurt)"),
    "object_x": Feature(0, "x of the centroid (column index of the whole image)"),
    "object_y": Feature(0, "y of the centroid (row index)"),
    "object_bx": Feature(0, "x of the bounding box's left column"),
    "object_by": Feature(0, "y of the bounding box's top row"),
    "object_width": Feature(0, "width of the bounding box, pixels"),
    "object_height": Feature(0, "height of the bounding box, pixels"),
}
# Moments of a pixel taken as a unit square rather than a point: adds 1/12 to each variance,
# so a w-pixel-long bar has the second moment of a bar of length w.
PIXEL_VARIANCE = 1.0 / 12.0


def measure(
    filled: Mask,
    objects: Mask,
    grey: npt.NDArray[np.float32],
    origin: tuple[int, int],
    pixel_size_mm: float | None = None,
) -> dict[str, float]:
    """The features of one region.

    ``filled`` is the region with its holes filled, ``objects`` the same without its holes,
    ``grey`` the 8-bit grey levels; all three are the same window of the image, whose top-left
    pixel is ``origin`` (x, y). The window may be larger than the region.
    """
    rows, cols = np.nonzero(filled)
    area = float(rows.size)
    if area == 0:
        raise ValueError("a region needs at least one pixel")
    x0, y0 = origin
    top, left = int(rows.min()), int(cols.min())
    height, width = int(rows.max()) - top + 1, int(cols.max()) - left + 1
    major, minor, angle = _ellipse(cols.astype(np.float64), rows.astype(np.float64))
    hull_area, feret = _convex_hull(filled)
    outline = perimeter(filled)
    values = {
        "object_area": area,
        "object_area_exc": float(np.count_nonzero(objects & filled)),
        "object_perimeter": outline,
        "object_convarea": hull_area,
        "object_major": major,
        "object_minor": minor,
        "object_angle": angle,
        "object_feret": feret,
        "object_esd": 2.0 * math.sqrt(area / math.pi),
        "object_eccentricity": math.sqrt(max(0.0, 1.0 - (minor / major) ** 2)),
        "object_elongation": major / minor,
        "object_circularity": 4.0 * math.pi * area / outline**2,
        "object_solidity": area / hull_area,
        "object_extent": area / (width * height),
        **_grey_statistics(grey[filled].astype(np.float64)),
        "object_x": x0 + float(cols.mean()),
        "object_y": y0 + float(rows.mean()),
        "object_bx": float(x0 + left),
        "object_by": float(y0 + top),
        "object_width": float(width),
        "object_height": float(height),
    }
    if pixel_size_mm is not None:
        values.update(in_millimetres(values, pixel_size_mm))
    return {name: round(value, 4) for name, value in values.items()}


def in_millimetres(values: dict[str, float], pixel_size_mm: float) -> dict[str, float]:
    """Every length as ``<name>_mm`` and every area as ``<name>_mm2``."""
    converted = {}
    for name, value in values.items():
        feature = FEATURES.get(name)
        if feature is None or feature.dimension == 0:
            continue
        suffix = "_mm" if feature.dimension == 1 else "_mm2"
        converted[name + suffix] = value * pixel_size_mm**feature.dimension
    return converted


def _ellipse(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    """Major and minor axis and angle of the region's ellipse, as ImageJ's "Fit Ellipse" makes it.

    The ellipse has the region's second moments for its shape and orientation, and the region's
    area for its size (ZooProcess's Major and Minor): for a filled ellipse these are its own axes;
    for a 4x1 bar, 4.5 and 1.1.
    """
    dx, dy = x - x.mean(), y - y.mean()
    var_x = float(np.mean(dx * dx)) + PIXEL_VARIANCE
    var_y = float(np.mean(dy * dy)) + PIXEL_VARIANCE
    cov = float(np.mean(dx * dy))
    spread = math.hypot((var_x - var_y) / 2.0, cov)
    larger, smaller = (var_x + var_y) / 2.0 + spread, max((var_x + var_y) / 2.0 - spread, 0.0)
    # An ellipse of semi-axes a, b has variances a²/4 and b²/4 along its axes: axes 4√λ ...
    major, minor = 4.0 * math.sqrt(larger), 4.0 * math.sqrt(smaller)
    # ... scaled so that the ellipse's area π·major·minor/4 is the region's.
    scale = math.sqrt(x.size / (math.pi * major * minor / 4.0))
    # Rows run down the image: the angle is measured with y pointing up, as ImageJ does.
    angle = math.degrees(0.5 * math.atan2(-2.0 * cov, var_x - var_y)) % 180.0
    return major * scale, minor * scale, angle


def _convex_hull(filled: Mask) -> tuple[float, float]:
    """Convex area and largest diameter (Feret) of the region.

    The Feret diameter is the largest distance between two corners of the region's pixel squares
    (ImageJ's outline polygon): for a w x h rectangle, exactly its diagonal. The convex area
    counts the pixels whose centres lie in the convex hull of the midpoints of the region's
    pixel edges (scikit-image's ``area_convex``): a digitised convex shape's own pixels, so that
    its solidity is about 1.

    Both come from the hull of the pixel centres, traced row by row: its left side is the convex
    envelope of each row's first pixel, its right side that of each row's last (``_envelope``).
    """
    rows, first, last = _row_ends(filled)
    left = _envelope(rows, -first)  # the left side, as the envelope of the mirrored first pixels
    right = _envelope(rows, last)
    # Every vertex of the hull is on one of its sides. Two corners of pixel squares lie farthest
    # apart when they are the outer corners of two such vertices: 1 farther on each axis.
    xs = np.concatenate([first[left], last[right]])
    ys = np.concatenate([rows[left], rows[right]])
    across = np.abs(xs[:, None] - xs[None, :]) + 1
    along = np.abs(ys[:, None] - ys[None, :]) + 1
    feret = float(np.sqrt((across * across + along * along).max()))
    # The hull of the pixel edges' midpoints is the hull of the centres widened by a diamond of
    # half a pixel: each side moves out by half a pixel, or by half its run per row if it is steeper.
    every_row = np.arange(rows[0], rows[-1] + 1)
    right_end = _widened_side(rows[right], last[right], every_row)
    left_end = -_widened_side(rows[left], -first[left], every_row)
    tolerance = 1e-9  # a centre on the hull's edge is inside
    counts = np.floor(right_end + tolerance) - np.ceil(left_end - tolerance) + 1
    return float(np.clip(counts, 0, None).sum()), feret


Integers = npt.NDArray[np.intp]


def _row_ends(filled: Mask) -> tuple[Integers, Integers, Integers]:
    """The rows the region occupies, and the column of the first and last pixel of each."""
    rows = np.flatnonzero(filled.any(axis=1))
    occupied = filled[rows]
    first = occupied.argmax(axis=1)
    last = filled.shape[1] - 1 - occupied[:, ::-1].argmax(axis=1)
    return rows, first, last


def _envelope(rows: Integers, x: Integers) -> Integers:
    """The indices of the vertices of the upper concave envelope of the points (row, x), rows rising.

    A point on or under the chord between its neighbours is no vertex: all such points are
    dropped at once, again and again, until every point left stands above its neighbours' chord.
    The arithmetic is on integers, so a point exactly on a chord is dropped.
    """
    keep = np.arange(rows.size)
    while keep.size > 2:
        a, i, b = keep[:-2], keep[1:-1], keep[2:]
        under = (x[i] - x[a]) * (rows[b] - rows[a]) <= (x[b] - x[a]) * (rows[i] - rows[a])
        if not under.any():
            break
        keep = np.concatenate([keep[:1], i[~under], keep[-1:]])
    return keep


def _widened_side(rows: Integers, x: Integers, every_row: Integers) -> npt.NDArray[np.float64]:
    """The right end of each row of a concave side (vertices ``rows``, ``x``) widened by the diamond.

    On row y the diamond reaches the side at heights y ± t (t ≤ ½) and adds ½ − t to its x: where
    the side runs by more than a pixel per row the farthest point is half a row away, ½·|slope|
    out; otherwise the side's own point, ½ out. At a vertex the slopes on either side count.
    """
    x_at = np.interp(every_row, rows, x)
    if rows.size == 1:
        return x_at + 0.5
    slopes = np.diff(x) / np.diff(rows)
    # The slope going down from each row (none from the last vertex), and going up (none from the first).
    below = np.searchsorted(rows, every_row, side="right") - 1
    above = np.searchsorted(rows, every_row, side="left") - 1
    down = np.where(below < rows.size - 1, slopes[np.minimum(below, rows.size - 2)], -np.inf)
    up = np.where(above >= 0, -slopes[np.maximum(above, 0)], -np.inf)
    return x_at + 0.5 * np.maximum(np.maximum(down, up), 1.0)


def _grey_statistics(levels: npt.NDArray[np.float64]) -> dict[str, float]:
    mean = float(levels.mean())
    centred = levels - mean
    m2 = float(np.mean(centred**2))
    skew = float(np.mean(centred**3)) / m2**1.5 if m2 > 0 else 0.0
    kurt = float(np.mean(centred**4)) / m2**2 - 3.0 if m2 > 0 else 0.0
    low, high = float(levels.min()), float(levels.max())
    return {
        "object_mean": mean,
        "object_stddev": float(levels.std(ddof=1)) if levels.size > 1 else 0.0,
        "object_median": float(np.median(levels)),
        "object_min": low,
        "object_max": high,
        "object_range": high - low,
        "object_skew": skew,
        "object_kurt": kurt,
    }
