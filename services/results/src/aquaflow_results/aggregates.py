"""Per-sample aggregates: counts per class, sizes in mm, abundance per volume. Pure, no I/O.

Recomputed from all of a sample's stored objects every time, so a result delivered
twice or a sample refreshed twice gives the same figures: idempotent by construction.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aquaflow_results.units import area_mm2, esd_from_area, length_mm, sphere_volume

DIGITS = 6


@dataclass(frozen=True)
class ObjectRow:
    """What the aggregates need of one stored object (``objects[]`` of a result)."""

    label: str | None
    esd_px: float | None = None
    area_px: float | None = None


def _esd_px(row: ObjectRow) -> float | None:
    if row.esd_px is not None and row.esd_px > 0:
        return row.esd_px
    if row.area_px is not None and row.area_px > 0:
        return esd_from_area(row.area_px)
    return None


def _r(value: float) -> float:
    return round(value, DIGITS)


def _spread(values: list[float]) -> dict[str, float | int]:
    return {
        "n": len(values),
        "mean": _r(statistics.fmean(values)),
        "median": _r(statistics.median(values)),
        "min": _r(min(values)),
        "max": _r(max(values)),
    }


def sizes(rows: Iterable[ObjectRow], pixel_size_um: float) -> dict[str, Any] | None:
    """ESD (mm), area (mm²) and spherical biovolume (mm³), overall and per class."""
    esd_by_label: dict[str, list[float]] = defaultdict(list)
    esds: list[float] = []
    areas: list[float] = []
    for row in rows:
        esd = _esd_px(row)
        if esd is None:
            continue
        esd_mm = length_mm(esd, pixel_size_um)
        esds.append(esd_mm)
        esd_by_label[row.label or "unclassified"].append(esd_mm)
        if row.area_px is not None and row.area_px > 0:
            areas.append(area_mm2(row.area_px, pixel_size_um))
    if not esds:
        return None
    return {
        "esd_mm": _spread(esds),
        "area_mm2": _spread(areas) if areas else None,
        "biovolume_mm3": {"total": _r(sum(sphere_volume(d) for d in esds)), "mean": _r(sphere_volume_mean(esds))},
        "by_class": {
            label: {
                "n": len(values),
                "esd_mm_mean": _r(statistics.fmean(values)),
                "esd_mm_median": _r(statistics.median(values)),
                "biovolume_mm3": _r(sum(sphere_volume(d) for d in values)),
            }
            for label, values in sorted(esd_by_label.items())
        },
    }


def sphere_volume_mean(diameters: list[float]) -> float:
    return statistics.fmean(sphere_volume(d) for d in diameters)


def abundance(
    counts: Mapping[str, int], unclassified: int, volume: float, unit: str, biovolume_mm3: float | None
) -> dict[str, Any]:
    """Individuals per volume unit (``per_m3`` or ``per_ml``), per class and in all."""
    total = sum(counts.values()) + unclassified
    found: dict[str, Any] = {
        "unit": unit,
        "total": _r(total / volume),
        "by_class": {label: _r(n / volume) for label, n in sorted(counts.items())},
        "unclassified": _r(unclassified / volume),
    }
    if biovolume_mm3 is not None:
        found["biovolume_mm3"] = _r(biovolume_mm3 / volume)
    return found


def sample_aggregates(rows: list[ObjectRow], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a sample document shows about its objects, from the rows and its metadata."""
    counts = Counter(row.label for row in rows if row.label is not None)
    unclassified = sum(1 for row in rows if row.label is None)
    pixel_size = metadata.get("pixel_size_um")
    measured = sizes(rows, float(pixel_size)) if pixel_size else None
    volume, unit = _volume(metadata)
    total_biovolume = measured["biovolume_mm3"]["total"] if measured else None
    return {
        "objects": len(rows),
        "counts": dict(sorted(counts.items())),
        "unclassified": unclassified,
        "sizes": measured,
        "abundance": abundance(counts, unclassified, volume, unit, total_biovolume) if volume else None,
    }


def _volume(metadata: Mapping[str, Any]) -> tuple[float | None, str]:
    if metadata.get("volume_m3"):
        return float(metadata["volume_m3"]), "per_m3"
    if metadata.get("volume_ml"):
        return float(metadata["volume_ml"]), "per_ml"
    return None, ""


def is_complete(expected_objects: int | None, processed: int, failed: int) -> bool:
    return expected_objects is not None and processed + failed >= expected_objects
