"""Per-sample figures: counts, sizes in mm, abundance per volume; per model and version."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from aquaflow_results.aggregates import (
    ObjectRow,
    SampleTally,
    TalliedFailure,
    TalliedResult,
    Upload,
    is_complete,
    sample_aggregates,
    sample_figures,
)
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


# Several models per upload: each model's figures apart, the sample's own from the primary one.

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def upload(n: int) -> Upload:
    return ("plankton-flowcam", f"run1/cell-{n:03d}.png", f"e{n}", "")


def tallied(
    n: int, model: str, *labels: str | None, version: str = "1", primary: bool = True, minute: int = 0
) -> TalliedResult:
    return TalliedResult(
        result_id=f"{model}-{version}-{n}",
        upload=upload(n),
        model=model,
        version=version,
        primary=primary,
        stored_at=T0 + timedelta(minutes=minute),
        rows=tuple(ObjectRow(label, esd_px=10.0 * (i + 1)) for i, label in enumerate(labels)),
    )


def test_a_detectors_counts_never_mix_with_the_classifiers() -> None:
    tally = SampleTally(
        results=[
            *(tallied(n, "plankton_classifier", "copepod") for n in range(3)),
            tallied(0, "fish_detector", "sardine", "sardine", primary=False),
            tallied(1, "fish_detector", primary=False),
            tallied(2, "fish_detector", "seabream", None, primary=False),
        ]
    )
    found = sample_figures(tally, {"volume_ml": 2.0}, expected_objects=3)
    assert (found["processed"], found["failed"], found["complete"]) == (3, 0, True)
    assert (found["objects"], found["counts"], found["unclassified"]) == (3, {"copepod": 3}, 0)
    assert found["abundance"]["by_class"] == {"copepod": 1.5}
    assert found["results_stored"] == 6
    classifier, detector = found["models"]["plankton_classifier"], found["models"]["fish_detector"]
    assert (classifier["primary"], classifier["counts"], classifier["processed"]) == (True, {"copepod": 3}, 3)
    assert (detector["primary"], detector["processed"], detector["objects"]) == (False, 3, 4)
    assert (detector["counts"], detector["unclassified"]) == ({"sardine": 2, "seabream": 1}, 1)
    assert detector["abundance"]["by_class"] == {"sardine": 1.0, "seabream": 0.5}


def test_a_sample_completes_on_its_primary_model_alone() -> None:
    tally = SampleTally(
        results=[tallied(n, "plankton_classifier", "copepod") for n in range(2)]
        + [tallied(0, "fish_detector", primary=False)],
        failures=[TalliedFailure(upload(2), "plankton_classifier", primary=True)],
    )
    found = sample_figures(tally, {}, expected_objects=3)
    assert (found["processed"], found["failed"], found["complete"]) == (2, 1, True)
    assert found["models"]["fish_detector"]["processed"] == 1
    assert not sample_figures(SampleTally(results=tally.results), {}, expected_objects=3)["complete"]


def test_a_failure_counts_against_its_own_model_until_that_model_has_a_result() -> None:
    results = [tallied(n, "plankton_classifier", "copepod") for n in range(2)]
    failures = [
        TalliedFailure(upload(0), "fish_detector", primary=False),
        TalliedFailure(upload(1), "plankton_classifier", primary=True),  # replayed since, with success
    ]
    found = sample_figures(SampleTally(results, failures), {}, expected_objects=None)
    assert (found["processed"], found["failed"]) == (2, 0)
    assert (found["models"]["fish_detector"]["processed"], found["models"]["fish_detector"]["failed"]) == (0, 1)
    assert found["models"]["fish_detector"]["primary"] is False


def test_a_canary_splits_one_models_uploads_between_versions() -> None:
    results = [
        tallied(n, "plankton_classifier", "copepod" if n % 2 else "diatom_chain", version=str(2 if n < 8 else 10))
        for n in range(10)
    ]
    found = sample_figures(SampleTally(results), {}, expected_objects=10)
    model = found["models"]["plankton_classifier"]
    assert (found["processed"], found["complete"], model["processed"]) == (10, True, 10)
    assert model["counts"] == found["counts"] == {"copepod": 5, "diatom_chain": 5}
    assert [(v["version"], v["processed"], v["counts"]) for v in model["versions"]] == [
        ("2", 8, {"copepod": 4, "diatom_chain": 4}),
        ("10", 2, {"copepod": 1, "diatom_chain": 1}),
    ]


def test_two_pinned_versions_on_the_same_uploads_count_each_upload_once_per_model() -> None:
    results = [tallied(n, "plankton_classifier", "copepod", version="2") for n in range(3)] + [
        tallied(n, "plankton_classifier", "detritus", version="3", primary=False, minute=5) for n in range(3)
    ]
    found = sample_figures(SampleTally(results), {}, expected_objects=3)
    model = found["models"]["plankton_classifier"]
    # The primary entry (version 2) is the model's figure; version 3 is beside it, not added.
    assert (found["processed"], found["counts"]) == (3, {"copepod": 3})
    assert (model["processed"], model["counts"]) == (3, {"copepod": 3})
    assert [(v["version"], v["processed"], v["counts"]) for v in model["versions"]] == [
        ("2", 3, {"copepod": 3}),
        ("3", 3, {"detritus": 3}),
    ]


def test_an_upload_rerun_on_a_new_pinned_version_counts_once_with_the_rerun() -> None:
    results = [
        tallied(0, "plankton_classifier", "copepod", version="2"),
        tallied(0, "plankton_classifier", "detritus", version="3", minute=30),
        tallied(1, "plankton_classifier", "copepod", version="2"),
    ]
    found = sample_figures(SampleTally(results), {}, expected_objects=2)
    assert (found["processed"], found["objects"], found["counts"]) == (2, 2, {"copepod": 1, "detritus": 1})
    assert found["results_stored"] == 3


def test_the_same_tally_gives_the_same_figures() -> None:
    results = [tallied(n, "plankton_classifier", "copepod", None) for n in range(4)]
    forwards = sample_figures(SampleTally(results), {"pixel_size_um": 5.0}, 4)
    assert forwards == sample_figures(SampleTally(results[::-1]), {"pixel_size_um": 5.0}, 4)
