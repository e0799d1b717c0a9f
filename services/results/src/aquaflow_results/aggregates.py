"""Per-sample aggregates: counts per class, sizes in mm, abundance per volume. Pure, no I/O.

Recomputed from all of a sample's stored results every time, so a result delivered
twice or a sample refreshed twice gives the same figures: idempotent by construction.

An upload can have several results: one per model its routing rule names (a classifier
and a detector, two pinned versions of a classifier). Each model's figures are kept apart
(``models``), each version's within its model; the sample's own figures, its completion
and its EcoTaxa objects come from the primary model, one result per upload.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

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
    volume_by_label: dict[str, list[float]] = defaultdict(list)
    esds: list[float] = []
    volumes: list[float] = []  # each ESD's sphere, computed once for the totals and the classes
    areas: list[float] = []
    for row in rows:
        esd = _esd_px(row)
        if esd is None:
            continue
        esd_mm = length_mm(esd, pixel_size_um)
        volume = sphere_volume(esd_mm)
        label = row.label or "unclassified"
        esds.append(esd_mm)
        volumes.append(volume)
        esd_by_label[label].append(esd_mm)
        volume_by_label[label].append(volume)
        if row.area_px is not None and row.area_px > 0:
            areas.append(area_mm2(row.area_px, pixel_size_um))
    if not esds:
        return None
    return {
        "esd_mm": _spread(esds),
        "area_mm2": _spread(areas) if areas else None,
        "biovolume_mm3": {"total": _r(sum(volumes)), "mean": _r(statistics.fmean(volumes))},
        "by_class": {
            label: {
                "n": len(values),
                "esd_mm_mean": _r(statistics.fmean(values)),
                "esd_mm_median": _r(statistics.median(values)),
                "biovolume_mm3": _r(sum(volume_by_label[label])),
            }
            for label, values in sorted(esd_by_label.items())
        },
    }


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


# An object version: bucket, key, ETag, version id.
Upload = tuple[str, str, str, str]
T = TypeVar("T")


@dataclass(frozen=True)
class TalliedResult:
    """What the aggregates need of one stored result."""

    result_id: str
    upload: Upload
    model: str
    version: str  # the version that ran
    primary: bool
    stored_at: datetime
    rows: tuple[ObjectRow, ...] = ()


@dataclass(frozen=True)
class TalliedFailure:
    """An upload a model could not process (an inference dead letter)."""

    upload: Upload
    model: str
    primary: bool


@dataclass(frozen=True)
class SampleTally:
    """What a sample's aggregates are computed from: every stored result and failure of the sample."""

    results: list[TalliedResult] = field(default_factory=list)
    failures: list[TalliedFailure] = field(default_factory=list)


def one_per_upload(items: Iterable[T], upload: Callable[[T], Hashable], precedence: Callable[[T], Any]) -> list[T]:
    """For each upload, the item of highest ``precedence``."""
    chosen: dict[Hashable, T] = {}
    for item in items:
        held = chosen.get(upload(item))
        if held is None or precedence(item) > precedence(held):
            chosen[upload(item)] = item
    return list(chosen.values())


def counted(results: Iterable[TalliedResult]) -> list[TalliedResult]:
    """The result that counts for each upload: a primary one before another, then the latest stored.

    An upload has two results of one model when the rule pins two versions of it (the primary
    entry wins) or when it was replayed after its rule's version changed (the rerun wins).
    """
    return one_per_upload(results, lambda r: r.upload, lambda r: (r.primary, r.stored_at, r.result_id))


def _rows(results: Iterable[TalliedResult]) -> list[ObjectRow]:
    return [row for result in results for row in result.rows]


def _group(results: list[TalliedResult], failures: list[TalliedFailure], metadata: Mapping[str, Any]) -> dict[str, Any]:
    chosen = counted(results)
    done = {r.upload for r in results}
    failed = {f.upload for f in failures} - done
    return {**sample_aggregates(_rows(chosen), metadata), "processed": len(chosen), "failed": len(failed)}


def _results_only(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k != "failed"}


def _version_order(version: str) -> tuple[bool, int, str]:
    # Triton versions are numbers: "10" comes after "9".
    return (not version.isdigit(), int(version) if version.isdigit() else 0, version)


class _Groups:
    """``_group`` of one sample's metadata, computed once per set of results and failures.

    A sample of one model at one version has the same results as its primary model, its
    model and its version: their figures are computed once, not three times.
    """

    def __init__(self, metadata: Mapping[str, Any]) -> None:
        self._metadata = metadata
        self._known: dict[tuple[tuple[int, ...], tuple[int, ...]], dict[str, Any]] = {}

    def __call__(self, results: list[TalliedResult], failures: list[TalliedFailure]) -> dict[str, Any]:
        # The objects themselves, by identity: they are all alive in the tally while this runs.
        key = (tuple(map(id, results)), tuple(map(id, failures)))
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = _group(results, failures, self._metadata)
        return found


def model_figures(
    results: list[TalliedResult],
    failures: list[TalliedFailure],
    metadata: Mapping[str, Any],
    group: Callable[[list[TalliedResult], list[TalliedFailure]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One model's figures in a sample, and each of its versions' (a canary beside the pinned version)."""
    group = group or _Groups(metadata)
    versions = sorted({r.version for r in results}, key=_version_order)
    return {
        **group(results, failures),
        "primary": any(r.primary for r in results) or any(f.primary for f in failures),
        # A failed request names the version it asked for, not one that ran: failures stay at model level.
        "versions": [
            {"version": version, **_results_only(group([r for r in results if r.version == version], []))}
            for version in versions
        ],
    }


def sample_figures(tally: SampleTally, metadata: Mapping[str, Any], expected_objects: int | None) -> dict[str, Any]:
    """Everything a sample document shows of its results.

    The sample's own figures (``processed``, ``failed``, ``counts``…, ``complete``) are its
    primary model's, one result per upload, as before a rule could name several models; every
    model's are under ``models``, apart, so a detector's counts never mix with a classifier's.
    """
    group = _Groups(metadata)
    primary = group([r for r in tally.results if r.primary], [f for f in tally.failures if f.primary])
    names = sorted({r.model for r in tally.results} | {f.model for f in tally.failures})
    models = {
        name: model_figures(
            [r for r in tally.results if r.model == name],
            [f for f in tally.failures if f.model == name],
            metadata,
            group,
        )
        for name in names
    }
    return {
        **primary,
        "complete": is_complete(expected_objects, primary["processed"], primary["failed"]),
        "results_stored": len(tally.results),
        "models": models,
    }
