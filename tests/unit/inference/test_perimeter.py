"""The outline traced for the perimeter is scikit-image's ``find_contours`` on the mask, vertex for vertex."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage
from skimage.measure import find_contours

from aquaflow_inference.perimeter import CONTOUR_SMOOTHING, outlines, perimeter

Mask = npt.NDArray[np.bool_]


def masks(seed: int, count: int) -> list[Mask]:
    """Random masks of every kind of outline: specks, saddles (diagonal pixels), holes, blobs, edges."""
    rng = np.random.default_rng(seed)
    found = []
    for i in range(count):
        height, width = (int(n) for n in rng.integers(1, 60, 2))
        mask = rng.random((height, width)) < rng.random()
        if i % 3 == 0:
            mask = ndimage.binary_opening(mask)
        found.append(mask)
    return found


def traced(mask: Mask) -> list[npt.NDArray[np.float64]]:
    """find_contours' outlines of the padded mask, as the perimeter was first measured."""
    contours = find_contours(np.pad(mask, 1).astype(np.float32), 0.5, fully_connected="high")  # type: ignore[no-untyped-call]
    return [c[:-1] for c in contours]  # closed: the first vertex is repeated at the end


def smoothed_length(closed: npt.NDArray[np.float64]) -> float:
    """The smoothed length as first written, with np.roll."""

    def length(vertices: npt.NDArray[np.float64]) -> float:
        steps = np.diff(np.vstack([vertices, vertices[:1]]), axis=0)
        return float(np.hypot(steps[:, 0], steps[:, 1]).sum())

    if len(closed) < len(CONTOUR_SMOOTHING):
        return length(closed)
    shifts = range(-(len(CONTOUR_SMOOTHING) // 2), len(CONTOUR_SMOOTHING) // 2 + 1)
    return length(
        np.asarray(sum(w * np.roll(closed, s, axis=0) for s, w in zip(shifts, CONTOUR_SMOOTHING, strict=True)))
    )


@pytest.mark.parametrize("seed", range(4))
def test_the_outlines_are_find_contours_ones_in_the_same_order_from_the_same_vertex(seed: int) -> None:
    for mask in masks(seed, 150):
        expected = traced(mask) if mask.any() else []
        found = outlines(np.pad(mask, 1)) if mask.any() else []
        assert len(found) == len(expected)
        for ours, theirs in zip(found, expected, strict=True):
            np.testing.assert_array_equal(ours, theirs)


def test_the_perimeter_is_the_sum_of_the_smoothed_outlines_to_the_last_bit() -> None:
    for mask in masks(7, 150):
        expected = float(sum(smoothed_length(c) for c in traced(mask))) if mask.any() else 0.0
        assert perimeter(mask) == expected
