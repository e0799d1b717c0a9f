"""Column names of the EcoTaxa table: morphometric features under the names EcoTaxa users know.

ZooProcess (ZooScan, UVP) names the measures of a region ``area``, ``perim.``, ``major``,
``minor``, ``feret``, ``esd``, ``circ.``, ``mean``… in pixels; MorphoCut and PlanktoScope
compute the same ones with ``skimage.measure.regionprops`` and add ``eccentricity``,
``solidity`` and ``extent``. Results name features after regionprops; this maps them.
"""

from __future__ import annotations

from dataclasses import dataclass

from aquaflow_results.ecotaxa.values import column_suffix

NUMBER = "[f]"
TEXT = "[t]"

# At most this many custom object columns per EcoTaxa project.
MAX_CUSTOM_NUMERIC = 500
MAX_CUSTOM_TEXT = 20


@dataclass(frozen=True)
class Feature:
    column: str
    # 0: no unit or a position, 1: a length in pixels, 2: an area in square pixels.
    dimension: int = 0

    @property
    def mm_column(self) -> str | None:
        if self.dimension == 0:
            return None
        base = self.column.rstrip(".")
        return f"{base}_mm2" if self.dimension == 2 else f"{base}_mm"


FEATURES: dict[str, Feature] = {
    "area": Feature("object_area", 2),
    "perimeter": Feature("object_perim.", 1),
    "major_axis_length": Feature("object_major", 1),
    "minor_axis_length": Feature("object_minor", 1),
    "feret_diameter_max": Feature("object_feret", 1),
    "feret": Feature("object_feret", 1),
    "equivalent_diameter": Feature("object_esd", 1),
    "equivalent_diameter_area": Feature("object_esd", 1),
    "esd": Feature("object_esd", 1),
    "convex_area": Feature("object_convarea", 2),
    "area_convex": Feature("object_convarea", 2),
    "circularity": Feature("object_circ."),
    "elongation": Feature("object_elongation"),
    "eccentricity": Feature("object_eccentricity"),
    "solidity": Feature("object_solidity"),
    "extent": Feature("object_extent"),
    "orientation": Feature("object_orientation"),
    "mean_intensity": Feature("object_mean"),
    "intensity_mean": Feature("object_mean"),
    "min_intensity": Feature("object_min"),
    "intensity_min": Feature("object_min"),
    "max_intensity": Feature("object_max"),
    "intensity_max": Feature("object_max"),
    "std_intensity": Feature("object_stddev"),
    "intensity_std": Feature("object_stddev"),
    "centroid_x": Feature("object_x"),
    "centroid_y": Feature("object_y"),
    "bbox_x": Feature("object_bx"),
    "bbox_y": Feature("object_by"),
    "bbox_width": Feature("object_width"),
    "bbox_height": Feature("object_height"),
}


def feature(name: str) -> Feature:
    """The column of a feature; an unknown one keeps its own name as a free ``object_*`` column."""
    key = name.strip().lower()
    if key.startswith("object_"):
        key = key[len("object_") :]
    known = FEATURES.get(key)
    if known is not None:
        return known
    return Feature(f"object_{column_suffix(key)}")


# Object columns every package has, in this order, with their types.
OBJECT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("object_id", TEXT),
    ("img_file_name", TEXT),
    ("img_rank", NUMBER),
    ("object_lat", NUMBER),
    ("object_lon", NUMBER),
    ("object_date", TEXT),
    ("object_time", TEXT),
    ("object_depth_min", NUMBER),
    ("object_depth_max", NUMBER),
    ("object_annotation_category", TEXT),
    ("object_annotation_status", TEXT),
    ("object_score", NUMBER),
    ("object_score_threshold", NUMBER),
    ("object_model_label", TEXT),
    ("object_source", TEXT),
    ("object_index", NUMBER),
    ("object_bx", NUMBER),
    ("object_by", NUMBER),
    ("object_width", NUMBER),
    ("object_height", NUMBER),
)
FIXED_OBJECT_COLUMNS = frozenset(name for name, _ in OBJECT_COLUMNS)
# Object columns EcoTaxa maps to its own fields; the others are custom ("free") columns.
PREDEFINED_OBJECT_COLUMNS = frozenset(
    {
        "object_id",
        "img_file_name",
        "img_rank",
        "object_lat",
        "object_lon",
        "object_date",
        "object_time",
        "object_depth_min",
        "object_depth_max",
        "object_annotation_category",
        "object_annotation_status",
    }
)

# Sample metadata keys that have a column of their own (or go on the objects).
SAMPLE_KEYS_USED_ELSEWHERE = frozenset(
    {
        "station",
        "lat",
        "lon",
        "latitude",
        "longitude",
        "date",
        "time",
        "depth_min",
        "depth_max",
        "volume_m3",
        "volume_ml",
        "pixel_size_um",
        "instrument",
    }
)
