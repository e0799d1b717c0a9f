"""Whole ZooScan scans built from real organisms, with the truth of where each one lies.

A ZooScan tray scan is about 4000x3000 pixels (more at full resolution) with tens of organisms
of 400 to 40 000 pixels each, on a background that is never flat: the lamp and the scanner's
optics leave a gradient and darker corners, the sensor adds noise. No such scan with a pixel-
exact annotation ships with the project, so this module builds them: it cuts organisms out of
the real ZooScan vignettes in ``data/ecotaxa-qa`` (without their legend), scales, turns and
flips them, and lays them at known places on a scanner-like background, none overlapping, a few
cut by the image's edge. The mask of each placed organism is the truth a segmentation is
scored against.

How an organism is cut out (a rule of its own, independent of the segmentation it tests): its
darkness is the vignette's background level minus the grey level; the legend, drawn in pure
black (grey ≤ 12, a level no organism in these vignettes reaches), is left out with a pixel
around it; the organism is the largest 8-connected set of pixels at least ``CUT_DARKNESS``
darker than the background, holes filled. Laid on a scan, it darkens the background as a
transparent object does, pixel = background x (1 - darkness / 255), and every pixel of its mask
keeps at least ``CUT_DARKNESS`` of darkness, so that the mask and the visible organism agree.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

from aquaflow_devstack.samples import sample_root

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float32]

# Real ZooScan (ZooProcess) vignettes, and a few other dark-on-light organisms of the data set:
# copepods, an egg, detritus, a bubble, a large copepod with pale antennae.
SOURCES = (
    "import_test/m106_mn01_n1_sml/m106_mn01_n1_sml_821.jpg",
    "import_test/m106_mn01_n1_sml/m106_mn01_n1_sml_822.jpg",
    "import_test/m106_mn01_n1_sml/m106_mn01_n1_sml_850.jpg",
    "import_test/m106_mn01_n1_sml/m106_mn01_n1_sml_851.jpg",
    "import_test/m106_mn01_n2_sml/m106_mn01_n2_sml_1.jpg",
    "import_test/m106_mn01_n2_sml/m106_mn01_n2_sml_1081.jpg",
    "import_test/m106_mn01_n2_sml/m106_mn01_n2_sml_1111.jpg",
    "import_test_plus_more/m106_mn01_n3_sml/m106_mn01_n3_sml_1112.jpg",
    "import de categories ambigues/1.jpg",
    "images/9990.jpg",
    "images/4261.gif",
)
LEGEND_INK = 12  # grey levels at most this dark are the vignette's legend
CUT_DARKNESS = 20  # an organism's pixels are at least this much darker than the background
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)

# The scan.
SCAN_SIZE = (4000, 3000)
ORGANISMS = (40, 80)  # how many, at least and at most
AREA_RANGE = (400.0, 40_000.0)  # pixels; drawn log-uniformly
EDGE_SHARE = 0.12  # organisms placed across the image's edge
GAP = 6  # pixels between two organisms at least
BACKGROUND = 215.0  # grey level of a dark-on-light scan's middle (8-bit scale)
DARK_BACKGROUND = 22.0  # grey level of a bright-on-dark scan's middle
GRADIENT = 12.0  # grey levels from one side of the scan to the middle
VIGNETTING = 10.0  # grey levels lost in the corners
NOISE = 2.0  # standard deviation of the sensor's noise (8-bit scale)
TWELVE_BIT_FULL_SCALE = 4095


@dataclass(frozen=True)
class Cutout:
    source: str
    darkness: Floats  # grey levels below the vignette's background, 0 outside the mask
    mask: Mask


@dataclass(frozen=True)
class PlacedOrganism:
    """Where an organism lies on the scan: its box and its exact pixels within the box."""

    source: str
    box: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max (exclusive)
    mask: Mask  # the box's pixels that are organism
    touches_edge: bool

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True)
class BuiltScan:
    image: Image.Image  # "L" (8-bit) or "I;16" (12-bit values in 16-bit pixels)
    organisms: list[PlacedOrganism]


def build_scan(
    seed: int,
    *,
    bit_depth: Literal[8, 12] = 8,
    polarity: Literal["dark_on_light", "bright_on_dark"] = "dark_on_light",
    size: tuple[int, int] = SCAN_SIZE,
    noise: float = NOISE,
) -> BuiltScan:
    """A scan with 40-80 real organisms at known places; the same seed gives the same scan.

    ``noise`` is the sensor's standard deviation in 8-bit grey levels.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    darkness = np.zeros((height, width), dtype=np.float32)
    occupied = np.zeros((height, width), dtype=bool)
    cutouts = organism_cutouts()
    wanted = int(rng.integers(ORGANISMS[0], ORGANISMS[1] + 1))
    placed: list[PlacedOrganism] = []
    attempts = 0
    while len(placed) < wanted and attempts < wanted * 20:
        attempts += 1
        organism = _transformed(cutouts[int(rng.integers(len(cutouts)))], rng)
        on_edge = rng.random() < EDGE_SHARE
        spot = _place(organism, darkness, occupied, rng, on_edge=on_edge)
        if spot is not None:
            placed.append(spot)
    light = _illumination(rng, width, height, polarity)
    if polarity == "dark_on_light":
        scan = light * (1.0 - darkness / 255.0)
    else:
        scan = light + darkness * (1.0 - DARK_BACKGROUND / 255.0)
    return BuiltScan(_quantised(scan, rng, bit_depth, noise), placed)


@functools.cache
def organism_cutouts() -> tuple[Cutout, ...]:
    return tuple(cut_out(source) for source in SOURCES)


def cut_out(source: str) -> Cutout:
    """The organism of a dark-on-light vignette, without its legend, as darkness and mask."""
    with Image.open(sample_root() / source) as image:
        grey = np.asarray(image.convert("L"), dtype=np.float32)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    darkness = np.clip(float(np.median(border)) - grey, 0, None)
    legend = ndimage.binary_dilation(grey <= LEGEND_INK, structure=EIGHT_CONNECTED, iterations=2)
    mask = _largest((darkness >= CUT_DARKNESS) & ~legend)
    rows, cols = ndimage.find_objects(mask.astype(np.int32))[0]
    mask = ndimage.binary_fill_holes(mask[rows, cols])
    patch = np.where(mask, np.maximum(darkness[rows, cols], CUT_DARKNESS), 0).astype(np.float32)
    return Cutout(source, patch, mask)


def _largest(mask: Mask) -> Mask:
    labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    if count == 0:
        raise ValueError("no organism in this vignette")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(sizes.argmax())  # type: ignore[no-any-return]


def _transformed(cutout: Cutout, rng: np.random.Generator) -> Cutout:
    """Scaled to an area drawn in ``AREA_RANGE``, turned by any angle, perhaps mirrored."""
    low, high = (math.log(a) for a in AREA_RANGE)
    scale = math.sqrt(math.exp(rng.uniform(low, high)) / cutout.mask.sum())
    angle = float(rng.uniform(0, 360))
    mirrored = bool(rng.random() < 0.5)
    darkness, coverage = (
        _warped(layer, scale, angle, mirrored) for layer in (cutout.darkness, cutout.mask.astype(np.float32))
    )
    mask = ndimage.binary_fill_holes(_largest(coverage >= 0.5))
    darkness = np.where(mask, np.maximum(darkness, CUT_DARKNESS), 0).astype(np.float32)
    return Cutout(cutout.source, darkness, mask)


def _warped(layer: Floats, scale: float, angle: float, mirrored: bool) -> Floats:
    image = Image.fromarray(layer, mode="F")
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR).rotate(angle, Image.Resampling.BILINEAR, expand=True)
    warped = np.asarray(image, dtype=np.float32)
    return warped[:, ::-1] if mirrored else warped


def _place(
    organism: Cutout, darkness: Floats, occupied: Mask, rng: np.random.Generator, *, on_edge: bool
) -> PlacedOrganism | None:
    """Paint the organism at a free random place (across an edge if ``on_edge``), or None."""
    height, width = darkness.shape
    h, w = organism.mask.shape
    if not on_edge and (w >= width or h >= height):
        return None
    x0 = int(rng.integers(0, max(1, width - w)))
    y0 = int(rng.integers(0, max(1, height - h)))
    if on_edge:  # a third to two thirds of its box outside, on one side
        side = int(rng.integers(4))
        outside = float(rng.uniform(1 / 3, 2 / 3))
        if side == 0:
            x0 = -round(outside * w)
        elif side == 1:
            x0 = width - w + round(outside * w)
        elif side == 2:
            y0 = -round(outside * h)
        else:
            y0 = height - h + round(outside * h)
    # The part of the organism's box that lies on the scan.
    left, top = max(0, x0), max(0, y0)
    right, bottom = min(width, x0 + w), min(height, y0 + h)
    if right - left < 2 or bottom - top < 2:
        return None
    window = (slice(top, bottom), slice(left, right))
    inner = (slice(top - y0, bottom - y0), slice(left - x0, right - x0))
    visible = _largest_or_none(organism.mask[inner])
    if visible is None or visible.sum() < AREA_RANGE[0] or (visible & occupied[window]).any():
        return None
    darkness[window] = np.where(visible, organism.darkness[inner], darkness[window])
    grown = ndimage.binary_dilation(np.pad(visible, GAP), structure=EIGHT_CONNECTED, iterations=GAP)
    _mark(occupied, grown, top - GAP, left - GAP)
    rows, cols = ndimage.find_objects(visible.astype(np.int32))[0]
    box = (left + cols.start, top + rows.start, left + cols.stop, top + rows.stop)
    touches = box[0] == 0 or box[1] == 0 or box[2] == width or box[3] == height
    return PlacedOrganism(organism.source, box, visible[rows, cols], touches)


def _largest_or_none(mask: Mask) -> Mask | None:
    return _largest(mask) if mask.any() else None


def _mark(occupied: Mask, grown: Mask, top: int, left: int) -> None:
    """``occupied |= grown`` with ``grown``'s top-left corner at (top, left), clipped to the scan."""
    height, width = occupied.shape
    first_row, first_col = max(0, top), max(0, left)
    end_row, end_col = min(height, top + grown.shape[0]), min(width, left + grown.shape[1])
    occupied[first_row:end_row, first_col:end_col] |= grown[
        first_row - top : end_row - top, first_col - left : end_col - left
    ]


def _illumination(
    rng: np.random.Generator, width: int, height: int, polarity: Literal["dark_on_light", "bright_on_dark"]
) -> Floats:
    """The empty scan: a level, a gradient in a random direction and darker corners."""
    direction = rng.uniform(0, 2 * math.pi)
    x = (np.arange(width, dtype=np.float32) - width / 2) / (width / 2)
    y = (np.arange(height, dtype=np.float32) - height / 2) / (height / 2)
    strength = 1.0 if polarity == "dark_on_light" else 0.25
    level = BACKGROUND if polarity == "dark_on_light" else DARK_BACKGROUND
    ramp = GRADIENT * strength * (math.cos(direction) * x[None, :] + math.sin(direction) * y[:, None])
    corners = VIGNETTING * strength * (x[None, :] ** 2 + y[:, None] ** 2) / 2
    return (level + ramp - corners).astype(np.float32)


def _quantised(scan: Floats, rng: np.random.Generator, bit_depth: Literal[8, 12], noise: float) -> Image.Image:
    """Sensor noise added, then stored as 8-bit grey or as 12-bit values in 16-bit pixels."""
    scale = 1.0 if bit_depth == 8 else TWELVE_BIT_FULL_SCALE / 255.0
    noisy = scan * scale + rng.standard_normal(scan.shape, dtype=np.float32) * (noise * scale)
    if bit_depth == 8:
        return Image.fromarray(np.clip(noisy.round(), 0, 255).astype(np.uint8))
    return Image.fromarray(np.clip(noisy.round(), 0, TWELVE_BIT_FULL_SCALE).astype(np.uint16))
