"""The drift watch on the worker's own model: the shipped plankton_classifier, its kept reference, its metrics.

The model is the worker's ImageModel over the shipped ONNX file run in-process; the inputs are new
generated vignettes (other seeds than the reference's), unchanged, darker, or of another class mix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from prometheus_client import CollectorRegistry, generate_latest

from aquaflow_inference.drift import Comparison, DriftMonitor, DriftParameters, DriftReference, scipy_tests
from aquaflow_inference.drift_settings import DriftSettings
from aquaflow_inference.drift_watch import DriftWatch, DriftWatchedModel, drift_watch, watch_default_version
from aquaflow_inference.metrics import InferenceMetrics
from aquaflow_inference.model_port import ImageModel
from training import gen_plankton
from training.drift_reference import served_model, validation_images

REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"
MODEL = "plankton_classifier"


def watched() -> tuple[DriftWatchedModel, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = InferenceMetrics(registry)
    watch = drift_watch(MODEL, DriftSettings(model_repository=REPOSITORY), metrics.drift)
    assert isinstance(watch, DriftWatch)
    return DriftWatchedModel(served_model(MODEL), watch), registry


def gauge(registry: CollectorRegistry, name: str, signal: str) -> float | None:
    text = generate_latest(registry).decode()
    match = re.search(rf'^{name}{{model="{MODEL}",signal="{signal}"}} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def classify_one_by_one(model: ImageModel, images: list[Image.Image]) -> None:
    """As FlowCam uploads arrive: one vignette per call."""
    for image in images:
        await model.classify([image])


SIGNALS = ("brightness", "contrast", "object_size", "confidence", "class_mix")


async def test_held_out_vignettes_raise_no_drift() -> None:
    model, registry = watched()
    await classify_one_by_one(model, validation_images(MODEL, 300, seed=4242))
    for signal in SIGNALS:
        assert gauge(registry, "aquaflow_model_drift_detected", signal) == 0.0, signal
        assert gauge(registry, "aquaflow_model_drift_observations_total", signal) == 300.0
        p_value = gauge(registry, "aquaflow_model_drift_p_value", signal)
        assert p_value is not None
        assert p_value > 1e-4


async def test_darker_vignettes_raise_brightness_drift() -> None:
    model, registry = watched()
    darker = [Image.eval(image, lambda v: int(v * 0.6)) for image in validation_images(MODEL, 100, seed=4343)]
    await classify_one_by_one(model, darker)
    assert gauge(registry, "aquaflow_model_drift_detected", "brightness") == 1.0
    score = gauge(registry, "aquaflow_model_drift_score", "brightness")
    assert score is not None
    assert score > 0.5
    # The sizes of the vignettes did not change.
    assert gauge(registry, "aquaflow_model_drift_detected", "object_size") == 0.0


async def test_another_class_mix_raises_class_mix_drift() -> None:
    model, registry = watched()
    rng = np.random.default_rng(4444)
    # Only copepods and round cells, where the reference has all eight classes about evenly.
    images = [gen_plankton.render("copepod" if i % 2 else "round_cell", rng) for i in range(100)]
    await classify_one_by_one(model, images)
    assert gauge(registry, "aquaflow_model_drift_detected", "class_mix") == 1.0
    assert gauge(registry, "aquaflow_model_drift_detected", "object_size") == 0.0


async def test_only_the_default_version_is_watched() -> None:
    registry = CollectorRegistry()
    metrics = InferenceMetrics(registry)
    watch = drift_watch(MODEL, DriftSettings(model_repository=REPOSITORY), metrics.drift, scipy_tests)
    assert watch is not None
    model = served_model(MODEL)

    async def versions(wanted: str | None) -> ImageModel:
        return model

    choose = watch_default_version(versions, watch)
    image = validation_images(MODEL, 1, seed=4545)
    await (await choose("1")).classify(image)
    assert gauge(registry, "aquaflow_model_drift_observations_total", "brightness") is None
    await (await choose(None)).classify(image)
    assert gauge(registry, "aquaflow_model_drift_observations_total", "brightness") == 1.0
    assert watch_default_version(versions, None) is versions


def test_no_watch_without_a_reference_or_when_disabled(tmp_path: Path) -> None:
    metrics = InferenceMetrics(CollectorRegistry())
    assert drift_watch(MODEL, DriftSettings(model_repository=tmp_path), metrics.drift) is None
    assert drift_watch(MODEL, DriftSettings(model_repository=REPOSITORY, enabled=False), metrics.drift) is None


def test_a_reference_of_another_model_is_refused(tmp_path: Path) -> None:
    kept = json.loads((REPOSITORY / MODEL / "drift_reference.json").read_text())
    (tmp_path / "litter_tiles").mkdir()
    (tmp_path / "litter_tiles" / "drift_reference.json").write_text(json.dumps(kept))
    with pytest.raises(ValueError, match="not of 'litter_tiles'"):
        drift_watch(
            "litter_tiles", DriftSettings(model_repository=tmp_path), InferenceMetrics(CollectorRegistry()).drift
        )


def test_each_shipped_reference_reads_and_matches_its_model() -> None:
    for name, signals in {
        "plankton_classifier": SIGNALS,
        "litter_tiles": ("brightness", "contrast", "confidence", "class_mix"),
        "fish_detector": SIGNALS,
    }.items():
        document = json.loads((REPOSITORY / name / "drift_reference.json").read_text())
        reference = DriftReference.from_document(document)
        assert reference.model == name
        assert set(reference.signals) == set(signals)
        labels = (REPOSITORY / name / "labels.txt").read_text().split()
        assert set(reference.class_counts) <= set(labels)
        assert all(len(reference.sample(s)) >= 300 for s in reference.signals)


class BrokenTest:
    def fit(self, reference: NDArray[Any]) -> None:
        pass

    def compare(self, window: NDArray[Any]) -> Comparison:
        raise RuntimeError("a bug in a drift test")


async def test_a_failing_watch_never_fails_the_inference() -> None:
    kept = DriftReference.from_document(json.loads((REPOSITORY / MODEL / "drift_reference.json").read_text()))
    monitor = DriftMonitor(
        kept, DriftParameters(window_size=10, min_observations=10, check_every=1), lambda _: BrokenTest()
    )
    model = DriftWatchedModel(served_model(MODEL), DriftWatch(monitor, InferenceMetrics(CollectorRegistry()).drift))
    images = validation_images(MODEL, 12, seed=4747)
    answers = await model.classify(images)
    assert len(answers) == 12
