"""Per-sample figures: counts, sizes in mm, abundance per volume."""

from __future__ import annotations

import math

import pytest

from aquaflow_results.aggregates import ObjectRow, is_complete, sample_aggregates
from aquaflow_results.units import area_mm2, esd_from_area, length_mm, sphere_volume

ROWS = [
    ObjectRow("copepod", esd_px=100.0, area_px=7854.0),
    ObjectRow("copepod", esd_px=200.0),
    ObjectRow(None, area_px=math.pi * 50**2),
]


def test_unit_conversions() -> None:
    assert length_mm(100, 10.0) == pytest.approx(1.0)
    assert area_mm2(10_000, 10.0) == pytest.approx(1.0)
    assert esd_from_area(math.pi) == pytest.approx(2.0)
    assert sphere_volume(1.0) == pytest.approx(math.pi / 6)


def test_counts_without_metadata_have_no_sizes_or_abundance() -> None:
    found = sample_aggregates(ROWS, {})
    assert found == {
        "objects": 3,
        "counts": {"copepod": 2},
        "unclassified": 1,
        "sizes": None,
        "abundance": None,
    }


def test_sizes_in_mm_and_abundance_per_m3() -> None:
    found = sample_aggregates(ROWS, {"pixel_size_um": 10.0, "volume_m3": 2.0})
    sizes = found["sizes"]
    assert sizes["esd_mm"] == {"n": 3, "mean": 1.333333, "median": 1.0, "min": 1.0, "max": 2.0}
    assert sizes["area_mm2"]["n"] == 2
    assert sizes["biovolume_mm3"]["total"] == pytest.approx(math.pi / 6 * (1 + 8 + 1), abs=1e-5)
    assert sizes["by_class"]["copepod"]["esd_mm_median"] == 1.5
    assert found["abundance"]["unit"] == "per_m3"
    assert found["abundance"]["total"] == 1.5
    assert found["abundance"]["by_class"] == {"copepod": 1.0}
    assert found["abundance"]["biovolume_mm3"] == pytest.approx(sizes["biovolume_mm3"]["total"] / 2, abs=1e-5)


def test_flowcam_abundance_is_per_ml() -> None:
    found = sample_aggregates([ObjectRow("diatom_chain")] * 5, {"volume_ml": 2.5})
    assert found["abundance"]["unit"] == "per_ml"
    assert found["abundance"]["by_class"] == {"diatom_chain": 2.0}


def test_completion() -> None:
    assert not is_complete(None, 10, 0)
    assert not is_complete(3, 2, 0)
    assert is_complete(3, 2, 1)
