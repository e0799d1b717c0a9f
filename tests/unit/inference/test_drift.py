"""Drift measures, reference documents, windows and tests (pure: no model, no I/O)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from aquaflow_inference.drift import (
    DriftMonitor,
    DriftParameters,
    DriftReference,
    Measurements,
    effect_size,
    frouros_tests,
    grey_levels,
    measure_classified,
    measure_detected,
    scipy_tests,
)
from aquaflow_inference.drift_settings import DriftSettings
from aquaflow_shared.contracts import BoundingBox, Classification, Detection

CLASSES = ("copepod", "detritus", "round_cell")


def reference(seed: int = 0, size: int = 1000) -> DriftReference:
    rng = np.random.default_rng(seed)
    numbers = {
        "brightness": rng.normal(200, 15, size).tolist(),
        "contrast": rng.normal(40, 8, size).tolist(),
        "confidence": rng.beta(8, 2, size).tolist(),
    }
    labels = rng.choice(CLASSES, size, p=[0.5, 0.3, 0.2]).tolist()
    return DriftReference.from_measurements("m", Measurements(numbers, labels), "synthetic")


def window(
    rng: np.random.Generator, n: int, *, brightness: float = 200, mix: tuple[float, ...] = (0.5, 0.3, 0.2)
) -> Measurements:
    return Measurements(
        {
            "brightness": rng.normal(brightness, 15, n).tolist(),
            "contrast": rng.normal(40, 8, n).tolist(),
            "confidence": rng.beta(8, 2, n).tolist(),
        },
        rng.choice(CLASSES, n, p=list(mix)).tolist(),
    )


def test_grey_levels_of_an_image() -> None:
    half = np.zeros((10, 20), dtype=np.uint8)
    half[:, 10:] = 200
    assert grey_levels(Image.fromarray(half)) == (100.0, 100.0)
    assert grey_levels(Image.new("RGB", (5, 5), (90, 90, 90))) == (90.0, 0.0)


def test_measure_classified_gives_one_value_per_input() -> None:
    images = [Image.new("L", (30, 12), 100), Image.new("L", (8, 50), 250)]
    answers = [Classification(label="copepod", score=0.8), Classification(label="detritus", score=0.4)]
    measured = measure_classified(images, answers)
    assert measured.numbers == {
        "brightness": [100.0, 250.0],
        "contrast": [0.0, 0.0],
        "confidence": [0.8, 0.4],
        "object_size": [30.0, 50.0],
    }
    assert list(measured.labels) == ["copepod", "detritus"]
    assert "object_size" not in measure_classified(images, answers, object_size=False).numbers


def test_measure_detected_sizes_relative_to_the_frame() -> None:
    frame = Image.new("RGB", (400, 200), (10, 10, 10))
    boxes = [BoundingBox(x_min=0, y_min=0, x_max=100, y_max=40), BoundingBox(x_min=10, y_min=10, x_max=30, y_max=90)]
    detections = [Detection(label="sardine", score=0.7, box=b) for b in boxes]
    measured = measure_detected(frame, detections)
    assert measured.numbers["brightness"] == [10.0]
    assert measured.numbers["object_size"] == [0.25, 0.2]
    assert measured.numbers["confidence"] == [0.7, 0.7]
    assert list(measured.labels) == ["sardine", "sardine"]
    empty = measure_detected(frame, [])
    assert (empty.numbers["brightness"], list(empty.labels)) == ([10.0], [])


def test_reference_document_round_trip() -> None:
    kept = reference()
    again = DriftReference.from_document(kept.to_document())
    assert again == kept
    assert kept.signals == ("brightness", "contrast", "confidence", "class_mix")
    mix = kept.sample("class_mix")
    assert sorted(set(mix.tolist())) == sorted(CLASSES)
    assert len(mix) == 1000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 99}, "format"),
        ({"signals": {"sharpness": {"kind": "continuous", "values": [1.0]}}}, "sharpness"),
        ({"signals": {"brightness": {"kind": "categorical", "counts": {"a": 1}}}}, "brightness"),
    ],
)
def test_a_reference_the_worker_cannot_read_is_refused(change: dict[str, object], message: str) -> None:
    document = {**reference().to_document(), **change}
    with pytest.raises(ValueError, match=message):
        DriftReference.from_document(document)


def test_no_test_before_the_window_holds_enough_and_then_every_check_every() -> None:
    monitor = DriftMonitor(reference(), DriftParameters(window_size=100, min_observations=40, check_every=20))
    rng = np.random.default_rng(1)
    assert monitor.observe(window(rng, 39)) == []
    assert monitor.score("brightness") is None
    first = monitor.observe(window(rng, 1))
    assert {s.signal for s in first} == {"brightness", "contrast", "confidence", "class_mix"}
    assert all(s.observations == 40 for s in first)
    assert monitor.observe(window(rng, 19)) == []
    assert {s.observations for s in monitor.observe(window(rng, 1))} == {60}
    monitor.observe(window(rng, 200))
    assert monitor.score("brightness").observations == 100  # type: ignore[union-attr]  # the window slides


def test_in_distribution_streams_almost_never_raise_drift() -> None:
    """Against one fixed reference, 40 streams of unchanged data: 9 tests of each signal per stream.

    A test at the default level rejects unchanged data about once in 10,000 tries (more often
    against a fixed reference sample, whose own quirks every window meets): at most 2 of the 40
    streams may raise anything.
    """
    rng = np.random.default_rng(2)
    kept = reference()
    alarmed, tests = 0, 0
    for _ in range(40):
        monitor = DriftMonitor(kept, DriftParameters())
        ran = [score for _ in range(10) for score in monitor.observe(window(rng, 25))]
        tests += len(ran)
        alarmed += any(s.detected for s in ran)
        assert all(0.0 <= s.score <= 1.0 for s in ran)
    assert tests == 40 * 9 * 4
    assert alarmed <= 2


def test_darker_inputs_raise_brightness_and_nothing_else() -> None:
    monitor = DriftMonitor(reference(), DriftParameters())
    monitor.observe(window(np.random.default_rng(3), 200, brightness=170))
    assert monitor.drifting == ("brightness",)
    score = monitor.score("brightness")
    assert score is not None
    assert score.p_value < 1e-6
    assert score.score > 0.5


def test_another_class_mix_raises_class_mix() -> None:
    monitor = DriftMonitor(reference(), DriftParameters())
    monitor.observe(window(np.random.default_rng(4), 200, mix=(0.1, 0.1, 0.8)))
    assert monitor.drifting == ("class_mix",)


def test_signals_the_reference_lacks_are_not_watched() -> None:
    monitor = DriftMonitor(reference(), DriftParameters(min_observations=10, check_every=1, window_size=10))
    ran = monitor.observe(Measurements({"object_size": [1.0] * 50}))
    assert ran == []
    assert "object_size" not in monitor.signals


def test_frouros_and_scipy_run_the_same_tests() -> None:
    pytest.importorskip("frouros")
    rng = np.random.default_rng(5)
    ref, win = rng.normal(0, 1, 500), rng.normal(0.3, 1, 120)
    labels_ref = rng.choice(CLASSES, 500).astype(object)
    labels_win = rng.choice(CLASSES[:2], 120).astype(object)
    for kind, r, w in (("continuous", ref, win), ("categorical", labels_ref, labels_win)):
        ours, theirs = scipy_tests(kind), frouros_tests(kind)  # type: ignore[arg-type]
        ours.fit(r)
        theirs.fit(r)
        a, b = ours.compare(w), theirs.compare(w)
        assert a.statistic == pytest.approx(b.statistic)
        assert a.p_value == pytest.approx(b.p_value)


def test_effect_sizes_lie_in_zero_one() -> None:
    assert effect_size("continuous", 0.3, 100, 50) == 0.3
    assert effect_size("categorical", 0.0, 100, 50) == 0.0
    assert effect_size("categorical", 150.0, 100, 50) == 1.0
    assert 0 < effect_size("categorical", 15.0, 100, 50) < 1


def test_settings_refuse_a_window_smaller_than_its_minimum() -> None:
    with pytest.raises(ValueError, match="min_observations"):
        DriftSettings(window_size=20, min_observations=30)
    settings = DriftSettings(window_size=300, p_value=0.01)
    assert settings.parameters() == DriftParameters(300, 50, 25, 0.01)
    assert DriftSettings().parameters() == DriftParameters()
    assert settings.reference_path("m").parts[-2:] == ("m", "drift_reference.json")
