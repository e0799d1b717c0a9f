"""Calibration measures, the threshold rule, the EcoTaxa QA labels, and the shipped thresholds.json."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aquaflow_results.settings import ResultsSettings
from aquaflow_results.thresholds import ConfidenceThresholds, calibrated_thresholds
from training import calibration, ecotaxa_qa
from training.cards import replace_section

REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"
FOLDER = REPOSITORY / "plankton_classifier"
DATA = REPOSITORY.parent / "data" / "ecotaxa-qa"


def test_reliability_bins_and_ece() -> None:
    confidence = np.array([0.05, 0.15, 0.15, 0.95, 1.0])
    correct = np.array([False, True, False, True, True])
    bins = calibration.reliability_bins(confidence, correct, bins=10)
    assert [b.count for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]  # 1.0 falls in the last bin
    assert bins[1].accuracy == 0.5
    assert bins[1].confidence == pytest.approx(0.15)
    assert math.isnan(bins[2].accuracy)
    # (1 * |0 - 0.05| + 2 * |0.5 - 0.15| + 2 * |1 - 0.975|) / 5
    assert calibration.expected_calibration_error(bins) == pytest.approx((0.05 + 0.7 + 0.05) / 5)


def test_a_perfectly_calibrated_model_has_no_calibration_error() -> None:
    confidence = np.array([0.25] * 4 + [0.75] * 4)
    correct = np.array([True, False, False, False, True, True, True, False])
    assert calibration.expected_calibration_error(calibration.reliability_bins(confidence, correct)) == 0.0


def test_the_threshold_is_the_lowest_whose_kept_labels_stay_precise() -> None:
    confidence = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4])
    correct = np.array([True, True, True, True, False, True, False, False])
    chosen = calibration.choose_threshold(confidence, correct, target=0.8)
    # At 0.6 five of six kept are right (0.83); at 0.5 five of seven (0.71): 0.6 it is.
    assert (chosen.threshold, chosen.kept, chosen.right) == (0.6, 6, 5)
    assert chosen.coverage == 6 / 8


def test_a_lucky_lower_threshold_is_not_taken_past_a_dip() -> None:
    # Precision at 0.6 is 0.75 < 0.8 though it is back to 0.8 at 0.5: the scan stops at the dip.
    confidence = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([True, False, True, True, True])
    chosen = calibration.choose_threshold(confidence, correct, target=0.8)
    assert chosen.threshold == 0.9


def test_when_the_most_confident_answer_is_wrong_nothing_seen_is_kept() -> None:
    confidence = np.array([0.825, 0.64, 0.5])
    correct = np.array([False, True, True])
    chosen = calibration.choose_threshold(confidence, correct, target=0.9)
    assert chosen.threshold == 0.83
    assert chosen.kept == 0
    assert math.isnan(chosen.precision)


def test_wilson_interval() -> None:
    low, high = calibration.wilson_interval(5, 5)
    assert low == pytest.approx(0.5655, abs=1e-3)
    assert high == 1.0
    assert all(math.isnan(v) for v in calibration.wilson_interval(0, 0))


def test_the_card_section_is_replaced_or_inserted_before_reproduce() -> None:
    card = "# m\n\n## Held-out metrics\n\nx\n\n## Reproduce\n\n```\ncmd\n```\n"
    once = replace_section(card, "## Real images", "first")
    assert once.index("## Real images") < once.index("## Reproduce")
    twice = replace_section(once, "## Real images", "second")
    assert "first" not in twice
    assert twice.count("## Real images") == 1
    assert twice.endswith("## Reproduce\n\n```\ncmd\n```\n")


def test_ecotaxa_tables_are_read_as_ecotaxa_writes_them(tmp_path: Path) -> None:
    header = '"img_file_name"\t"object_annotation_category"\n"[t]"\t"[t]"\n'
    (tmp_path / "ecotaxa_a.tsv").write_bytes(("\ufeff" + header + '"a.png"\t"Oncaeidae"\n').encode())
    (tmp_path / "ecotaxa_b.tsv").write_bytes(
        "img_file_name\tobject_annotation_category\nb.png\tégg\nmissing.png\tdetritus\nc.png\t\n".encode("latin-1")
    )
    Image.new("L", (10, 10), 200).save(tmp_path / "a.png")
    Image.new("L", (10, 10), 200).save(tmp_path / "b.png")  # the same bytes as a.png: one picture
    Image.new("L", (10, 10), 90).save(tmp_path / "c.png")  # no category: not labelled
    labelled = ecotaxa_qa.load(tmp_path)
    assert sorted((f.path.name, f.category) for f in labelled.files) == [("a.png", "Oncaeidae"), ("b.png", "égg")]
    (picture,) = labelled.images
    assert len(picture.paths) == 2
    assert picture.categories == Counter({"Oncaeidae": 1, "égg": 1})
    assert picture.category == "Oncaeidae"  # a tie: the alphabetically first
    assert picture.target == "copepod"
    assert picture.conflicting


def test_categories_map_onto_the_classes_or_other() -> None:
    labels = (FOLDER / "labels.txt").read_text().split()
    assert set(ecotaxa_qa.CATEGORY_TO_CLASS.values()) <= set(labels)
    assert ecotaxa_qa.target_class("Cyclopoida") == "copepod"
    assert ecotaxa_qa.target_class("small<egg") == "round_cell"
    assert ecotaxa_qa.target_class("t001") == ecotaxa_qa.OTHER
    assert ecotaxa_qa.target_class("never heard of it") == ecotaxa_qa.OTHER
    assert not set(ecotaxa_qa.OTHER_CATEGORIES) & set(ecotaxa_qa.CATEGORY_TO_CLASS)


def test_the_qa_data_holds_few_distinct_labelled_pictures() -> None:
    labelled = ecotaxa_qa.load(DATA)
    assert labelled.images
    assert len(labelled.files) > 5 * len(labelled.images)  # copies, not independent pictures
    assert labelled.undecodable  # the QA's corrupted image carries a category too
    known = set(ecotaxa_qa.CATEGORY_TO_CLASS) | set(ecotaxa_qa.OTHER_CATEGORIES)
    assert {f.category for f in labelled.files} <= known  # every category met is in the documented table


def test_shipped_thresholds_are_what_calibration_gives_for_the_shipped_model() -> None:
    shipped = json.loads((FOLDER / "thresholds.json").read_text())
    onnx = FOLDER / "1" / "model.onnx"
    assert shipped["model_sha256"] == hashlib.sha256(onnx.read_bytes()).hexdigest(), "rerun training.calibration"
    labels = (FOLDER / "labels.txt").read_text().split()
    scored = calibration.score_real(ecotaxa_qa.load(DATA), labels, DATA)
    confidence = np.array([s.confidence for s in scored])
    correct = np.array([s.correct for s in scored])
    chosen = calibration.choose_threshold(confidence, correct, shipped["target_precision"])
    assert shipped["thresholds"] == {"plankton_classifier": chosen.threshold}
    assert shipped["coverage"] == chosen.coverage
    record = json.loads((FOLDER / "calibration.json").read_text())
    assert record["chosen"]["threshold"] == chosen.threshold
    assert f"**Default threshold: {chosen.threshold:.2f}**" in (FOLDER / "MODEL.md").read_text()


def test_results_takes_the_calibrated_thresholds_as_defaults() -> None:
    shipped = calibrated_thresholds("plankton_classifier", json.loads((FOLDER / "thresholds.json").read_text()))
    settings = ResultsSettings(
        mongodb_url="mongodb://unused",  # type: ignore[arg-type]
        calibrated_thresholds_from=REPOSITORY,
        confidence_thresholds={"plankton_classifier/diatom_chain": 0.95},
    )
    assert settings.confidence_thresholds == {**shipped, "plankton_classifier/diatom_chain": 0.95}
    thresholds = ConfidenceThresholds(settings.confidence_thresholds, settings.default_confidence_threshold)
    assert thresholds.for_label("plankton_classifier", "copepod") == shipped["plankton_classifier"]
    assert thresholds.for_label("plankton_classifier", "diatom_chain") == 0.95
    assert thresholds.for_label("litter_tiles", "litter") == 0.5
    # An entry set by configuration wins over the calibrated one.
    mine = ResultsSettings(
        mongodb_url="mongodb://unused",  # type: ignore[arg-type]
        calibrated_thresholds_from=REPOSITORY,
        confidence_thresholds={"plankton_classifier": 0.6},
    )
    assert mine.confidence_thresholds["plankton_classifier"] == 0.6
    off = ResultsSettings(mongodb_url="mongodb://unused", calibrated_thresholds_from=None)  # type: ignore[arg-type]
    assert off.confidence_thresholds == {}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"thresholds": {"litter_tiles": 0.9}}, "another model"),
        ({"thresholds": {"plankton_classifier": 1.5}}, r"\[0, 1\]"),
        ({"thresholds": {"plankton_classifier": True}}, r"\[0, 1\]"),
        ({"thresholds": [0.5]}, "object"),
    ],
)
def test_a_thresholds_file_cannot_set_another_model_or_a_non_probability(
    document: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        calibrated_thresholds("plankton_classifier", document)
