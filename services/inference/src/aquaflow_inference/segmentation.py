"""ZooProcess-style regions of interest: dark organisms on a light background (pure, scikit-image).

Each region comes with its crop, its bounding box and the morphometric features
EcoTaxa users know, named as EcoTaxa ``object_*`` columns (areas in pixels², lengths
in pixels; the instrument's pixel size turns them into µm downstream).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage.filters import threshold_otsu
from skimage.measure import label, regionprops
from skimage.morphology import remove_small_objects

MIN_REGION_FRACTION = 0.0005  # regions smaller than this share of the image are noise
MIN_REGION_PIXELS = 16
CROP_MARGIN = 4


@dataclass(frozen=True)
class FoundRegion:
    crop: Image.Image
    bbox: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max (exclusive)
    features: dict[str, float]


@dataclass(frozen=True)
class Segmentation:
    regions: list[FoundRegion]  # largest first, at most max_regions
    total: int  # regions found, including those beyond max_regions


def segment(image: Image.Image, max_regions: int, grey_threshold: int | None = None) -> Segmentation:
    """Dark objects on a light background; features are computed for the largest ``max_regions``.

    Pixels darker than ``grey_threshold`` are object (ZooProcess uses a fixed level for a
    calibrated scanner); without one, Otsu's threshold adapts to each image.
    """
    grey = np.asarray(image.convert("L"))
    if grey_threshold is not None:
        mask = grey < grey_threshold
    elif grey.min() == grey.max():
        return Segmentation([], 0)
    else:
        # Otsu's level belongs to the darker class (on a two-level image it is the darker level).
        mask = grey <= threshold_otsu(grey)  # type: ignore[no-untyped-call]
    min_size = max(MIN_REGION_PIXELS, int(MIN_REGION_FRACTION * grey.size))
    mask = remove_small_objects(mask, max_size=min_size - 1)
    labelled = label(mask, connectivity=2)  # type: ignore[no-untyped-call]
    props = sorted(regionprops(labelled, intensity_image=grey), key=lambda p: -p.area)  # type: ignore[no-untyped-call]
    regions = []
    for prop in props[:max_regions]:
        y0, x0, y1, x1 = prop.bbox
        crop_box = (
            max(0, x0 - CROP_MARGIN),
            max(0, y0 - CROP_MARGIN),
            min(grey.shape[1], x1 + CROP_MARGIN),
            min(grey.shape[0], y1 + CROP_MARGIN),
        )
        regions.append(FoundRegion(image.crop(crop_box), (x0, y0, x1, y1), features(prop)))
    return Segmentation(regions, len(props))


def features(prop: object) -> dict[str, float]:
    p = prop  # skimage RegionProperties
    area = float(p.area)  # type: ignore[attr-defined]
    perimeter = float(p.perimeter)  # type: ignore[attr-defined]
    major = float(p.axis_major_length)  # type: ignore[attr-defined]
    minor = float(p.axis_minor_length)  # type: ignore[attr-defined]
    y0, x0, y1, x1 = p.bbox  # type: ignore[attr-defined]
    cy, cx = p.centroid  # type: ignore[attr-defined]
    values = {
        "object_area": area,
        "object_perimeter": perimeter,
        "object_major": major,
        "object_minor": minor,
        "object_esd": float(p.equivalent_diameter_area),  # type: ignore[attr-defined]
        "object_eccentricity": float(p.eccentricity),  # type: ignore[attr-defined]
        "object_solidity": float(p.solidity),  # type: ignore[attr-defined]
        "object_extent": float(p.extent),  # type: ignore[attr-defined]
        "object_circularity": 4 * math.pi * area / perimeter**2 if perimeter > 0 else 0.0,
        "object_elongation": major / minor if minor > 0 else 0.0,
        "object_mean": float(p.intensity_mean),  # type: ignore[attr-defined]
        "object_min": float(p.intensity_min),  # type: ignore[attr-defined]
        "object_max": float(p.intensity_max),  # type: ignore[attr-defined]
        "object_bx": float(x0),
        "object_by": float(y0),
        "object_width": float(x1 - x0),
        "object_height": float(y1 - y0),
        "object_x": float(cx),
        "object_y": float(cy),
    }
    return {k: round(v, 4) for k, v in values.items()}
