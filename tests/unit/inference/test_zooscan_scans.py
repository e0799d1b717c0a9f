"""Whole ZooScan scans: real organisms at known places on a scanner-like background.

``aquaflow_devstack.zooscan_scans`` cuts organisms out of the real vignettes, lays 40-80 of
them (400 to 40 000 pixels each, a few across the image's edge) on a 4000x3000 background with
a gradient, darker corners and noise, and keeps the mask of each: the truth ``segment`` is
scored against. An organism is found when a region's box overlaps its box with IoU ≥ 0.5.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest
from scipy import ndimage

from aquaflow_devstack.zooscan_scans import AREA_RANGE, CUT_DARKNESS, GAP, NOISE, ORGANISMS, BuiltScan, build_scan
from aquaflow_inference.imaging import to_8bit
from aquaflow_inference.segmentation import FoundRegion, SegmentationParams, segment

MIN_RECALL = 0.95
MIN_PRECISION = 0.95
MIN_IOU = 0.5
AREA_TOLERANCE = 0.05
MIN_AREA_PX = 100  # ZooProcess keeps organisms of ESD ≥ ~0.2 mm: several hundred pixels

Box = tuple[int, int, int, int]
Kind = tuple[Literal[8, 12], Literal["dark_on_light", "bright_on_dark"]]


@functools.cache
def scan_of(seed: int, kind: Kind, noise: float = NOISE) -> BuiltScan:
    bit_depth, polarity = kind
    return build_scan(seed, bit_depth=bit_depth, polarity=polarity, noise=noise)


def iou(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@dataclass(frozen=True)
class Score:
    recall: float
    precision: float
    pairs: list[tuple[int, FoundRegion]]  # (index of the placed organism, the region that found it)


def scored(built: BuiltScan, regions: list[FoundRegion]) -> Score:
    """Each placed organism matched to the unused region whose box overlaps its own most."""
    free = set(range(len(regions)))
    pairs = []
    for index, organism in enumerate(built.organisms):
        best = max(free, key=lambda i: iou(organism.box, regions[i].bbox), default=None)
        if best is not None and iou(organism.box, regions[best].bbox) >= MIN_IOU:
            free.remove(best)
            pairs.append((index, regions[best]))
    return Score(len(pairs) / len(built.organisms), len(pairs) / max(1, len(regions)), pairs)


def assert_found_and_measured(built: BuiltScan, params: SegmentationParams) -> None:
    image = to_8bit(built.image)  # what decode_image hands the pipeline
    found = segment(image, params)
    score = scored(built, found.regions)
    assert found.total == len(found.regions)  # nothing left unmeasured
    assert score.recall >= MIN_RECALL, f"{score.recall:.3f} of {len(built.organisms)} organisms found"
    assert score.precision >= MIN_PRECISION, f"{score.precision:.3f} of {len(found.regions)} regions are organisms"
    for index, region in score.pairs:
        organism = built.organisms[index]
        error = region.features["object_area"] / organism.area - 1
        assert abs(error) <= AREA_TOLERANCE, f"{organism.source} at {organism.box}: area {error:+.1%}"
        rows, cols = np.nonzero(organism.mask)
        assert region.features["object_x"] == pytest.approx(organism.box[0] + cols.mean(), abs=1.0)
        assert region.features["object_y"] == pytest.approx(organism.box[1] + rows.mean(), abs=1.0)


def test_an_8_bit_scan() -> None:
    assert_found_and_measured(scan_of(1, (8, "dark_on_light")), SegmentationParams(min_area_px=MIN_AREA_PX))


def test_a_16_bit_scan_of_12_bit_data() -> None:
    built = scan_of(2, (12, "dark_on_light"))
    assert built.image.mode == "I;16"
    assert 255 < int(np.asarray(built.image).max()) <= 4095
    assert_found_and_measured(built, SegmentationParams(min_area_px=MIN_AREA_PX))


def test_a_bright_on_dark_scan() -> None:
    built = scan_of(3, (8, "bright_on_dark"))
    assert_found_and_measured(built, SegmentationParams(polarity="bright_on_dark", min_area_px=MIN_AREA_PX))


def test_a_noisy_scan_keeps_its_organisms_pale_edges() -> None:
    """Noise of 3.5 levels: the threshold (4.5 deviations) is close to the palest edges' contrast,
    which are kept where they hang on to an organism's core (hysteresis down to 2.5 deviations)."""
    built = scan_of(5, (8, "dark_on_light"), noise=3.5)
    assert 4.5 * 3.5 > 0.75 * CUT_DARKNESS
    assert_found_and_measured(built, SegmentationParams(min_area_px=MIN_AREA_PX))


@pytest.mark.parametrize("kind", [(8, "bright_on_dark"), (12, "dark_on_light")], ids=["bright", "dark"])
def test_auto_polarity_tells_which_way_round_a_scan_is(kind: Kind) -> None:
    seed = 3 if kind[1] == "bright_on_dark" else 2
    assert_found_and_measured(scan_of(seed, kind), SegmentationParams(polarity="auto", min_area_px=MIN_AREA_PX))


def test_the_builder_places_real_organisms_as_a_zooscan_tray_holds_them() -> None:
    built = scan_of(1, (8, "dark_on_light"))
    organisms = built.organisms
    assert built.image.size == (4000, 3000)
    assert ORGANISMS[0] <= len(organisms) <= ORGANISMS[1]
    areas = [o.area for o in organisms]
    assert min(areas) >= AREA_RANGE[0]
    assert max(areas) > 10_000  # large copepods, with their pale appendages
    assert sum(o.touches_edge for o in organisms) >= 2
    assert len({o.source for o in organisms}) >= 6
    # No two organisms closer than GAP pixels: grown by half of it, they still do not overlap.
    grown_by = GAP // 2
    painted = np.zeros((3000 + 2 * grown_by, 4000 + 2 * grown_by), dtype=np.int8)
    for o in organisms:
        x0, y0, x1, y1 = o.box
        grown = ndimage.binary_dilation(np.pad(o.mask, grown_by), np.ones((3, 3)), iterations=grown_by)
        painted[y0 : y1 + 2 * grown_by, x0 : x1 + 2 * grown_by] += grown
    assert painted.max() == 1
    pixels = np.asarray(built.image).astype(np.float64)
    for o in organisms:  # each organism is darker than the background around it
        x0, y0, x1, y1 = o.box
        around = pixels[max(0, y0 - 3) : y1 + 3, max(0, x0 - 3) : x1 + 3]
        ring = np.ones(around.shape, dtype=bool)
        ring[3:-3, 3:-3] = False
        assert pixels[y0:y1, x0:x1][o.mask].mean() < np.median(around[ring]) - 15
