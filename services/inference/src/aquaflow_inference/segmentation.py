"""Regions of interest and their measures, ZooProcess-style (pure: no I/O).

Two entry points, one per kind of image an instrument delivers:
- ``segment``: a whole scan (ZooScan tray, 4000x3000 and more) holding tens of organisms;
- ``measure_vignette``: a pre-cut vignette (ZooProcess, FlowCam, UVP output) holding one
  organism and possibly a legend (scale bar, caption, corner marks), which is never a region.

Each region comes with its crop, its bounding box and its features named as EcoTaxa
``object_*`` columns (``features.py``, ``docs/features.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

from aquaflow_inference.features import measure
from aquaflow_inference.foreground import (
    Grey,
    Mask,
    Polarity,
    grey_levels,
    saturated_ink,
    scan_foreground,
    vignette_foreground,
)
from aquaflow_inference.legend import legend_mask
from aquaflow_inference.vignette import organism_of

CROP_MARGIN = 4
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class SegmentationParams:
    """How an instrument's images are segmented (one set per pipeline profile)."""

    polarity: Polarity = "dark_on_light"
    min_area_px: int = 50  # smallest region kept, in pixels (holes filled), whatever the image size
    # A fixed grey level (8-bit) instead of the adaptive threshold: object pixels are darker
    # (dark_on_light) or brighter (bright_on_dark) than it, as ZooProcess does on a calibrated scanner.
    grey_threshold: int | None = None
    max_regions: int = 500  # regions measured and cropped, largest first
    pixel_size_mm: float | None = None  # with it, lengths and areas also in mm and mm²


@dataclass(frozen=True)
class FoundRegion:
    crop: Image.Image
    bbox: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max (exclusive)
    features: dict[str, float]


@dataclass(frozen=True)
class Segmentation:
    regions: list[FoundRegion]  # largest first, at most max_regions
    total: int  # regions found, including those beyond max_regions


def segment(image: Image.Image, params: SegmentationParams) -> Segmentation:
    """The organisms of a whole scan, largest first; features for the largest ``max_regions``."""
    grey = grey_levels(image)
    if grey.size == 0 or grey.min() == grey.max():
        return Segmentation([], 0)
    found = scan_foreground(grey, params.polarity, params.grey_threshold)
    labels, count = ndimage.label(found.objects, structure=EIGHT_CONNECTED)
    regions = _filled_regions(labels, count, params.min_area_px)
    source = _croppable(image)
    measured = [
        _found(source, grey, filled, labels[box] > 0, box, params=params)
        for box, filled in regions[: params.max_regions]
    ]
    return Segmentation(measured, len(regions))


def is_captioned_vignette(image: Image.Image, params: SegmentationParams) -> bool:
    """Whether the image carries a legend (scale bar and caption, corner marks), as instruments
    draw on the vignettes they cut: such an image is one organism, not a scan to segment."""
    grey = grey_levels(image)
    if grey.size == 0 or grey.min() == grey.max():
        return False
    first = vignette_foreground(grey, params.polarity, params.grey_threshold)
    return bool(legend_mask(first.objects, saturated_ink(grey, first.polarity)).any())


def measure_vignette(image: Image.Image, params: SegmentationParams) -> Segmentation:
    """The organism of a pre-cut vignette: one region, or none on a blank image.

    The legend is found first and set aside, so that it neither becomes a region nor shifts
    the background level. The organism is the largest object near the vignette's centre,
    with the fragments lying within a pixel or two of it (a pale appendage the threshold
    cut off); it is kept even below ``min_area_px``, since the instrument cut the vignette
    around it.
    """
    grey = grey_levels(image)
    if grey.size == 0 or grey.min() == grey.max():
        return Segmentation([], 0)
    first = vignette_foreground(grey, params.polarity, params.grey_threshold)
    legend = legend_mask(first.objects, saturated_ink(grey, first.polarity))
    # Without a legend, setting it aside changes nothing: the first pass is the answer.
    found = vignette_foreground(grey, first.polarity, params.grey_threshold, ignored=legend) if legend.any() else first
    organism = organism_of(found.objects)
    if organism is None:
        return Segmentation([], 0)
    filled = ndimage.binary_fill_holes(organism.pixels)
    region = _found(_croppable(image), grey, filled, found.objects[organism.box], organism.box, params=params)
    return Segmentation([region], 1)


Box = tuple[slice, slice]


def _filled_regions(labels: npt.NDArray[np.int32], count: int, min_area: int) -> list[tuple[Box, Mask]]:
    """Each labelled object with its holes filled, largest first, those under ``min_area`` left out.

    An object lying in another's hole belongs to that one (filling the hole takes it in).
    """
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    boxes = ndimage.find_objects(labels)
    # Filling holes can only add pixels: objects with fewer than a quarter of the minimum are specks.
    candidates = [i + 1 for i in range(count) if boxes[i] is not None and sizes[i + 1] * 4 >= min_area]
    filled_regions: list[tuple[int, Box, Mask]] = []
    inside: set[int] = set()
    # An object that holds another in a hole has the larger box: boxes largest first see it first.
    for index in sorted(candidates, key=lambda i: -_box_area(boxes[i - 1])):
        if index in inside:
            continue
        box = boxes[index - 1]
        assert box is not None
        window = labels[box]
        filled = ndimage.binary_fill_holes(window == index)
        inside.update(int(i) for i in np.unique(window[filled]) if i not in (0, index))
        if int(filled.sum()) >= min_area:
            filled_regions.append((int(filled.sum()), box, filled))
    filled_regions.sort(key=lambda r: -r[0])
    return [(box, filled) for _, box, filled in filled_regions]


def _box_area(box: Box | None) -> int:
    return 0 if box is None else (box[0].stop - box[0].start) * (box[1].stop - box[1].start)


def _found(
    source: Image.Image, grey: Grey, filled: Mask, objects: Mask, box: Box, *, params: SegmentationParams
) -> FoundRegion:
    rows, cols = box
    features = measure(filled, objects, grey[box], (cols.start, rows.start), params.pixel_size_mm)
    x0, y0 = cols.start, rows.start
    x1, y1 = cols.stop, rows.stop
    crop_box = (
        max(0, x0 - CROP_MARGIN),
        max(0, y0 - CROP_MARGIN),
        min(grey.shape[1], x1 + CROP_MARGIN),
        min(grey.shape[0], y1 + CROP_MARGIN),
    )
    return FoundRegion(source.crop(crop_box), (x0, y0, x1, y1), features)


def _croppable(image: Image.Image) -> Image.Image:
    """The image the crops are cut from: 16-bit and float images as their 8-bit version."""
    if image.mode.startswith("I") or image.mode == "F":
        return Image.fromarray(grey_levels(image).astype(np.uint8))
    return image
