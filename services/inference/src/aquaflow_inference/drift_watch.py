"""Feeds the drift monitor from the worker: what the served model is given and what it answers.

The watch sits on the ``ImageModel`` seam, so it measures exactly the inputs the model gets (the
vignette, each region's crop, each tile, the frame) and its answers, whatever the profile and
the backend. Only the version served by default is watched: its reference is the one kept with
the model; a version a routing rule pins (a canary) is a different model.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog
from PIL import Image

from aquaflow_inference.drift import (
    DriftMonitor,
    DriftReference,
    DriftScore,
    Measurements,
    TestFactory,
    available_tests,
    measure_classified,
    measure_detected,
)
from aquaflow_inference.drift_settings import DriftSettings
from aquaflow_inference.metrics import DriftMetrics
from aquaflow_inference.model_port import ImageModel, ModelInfo
from aquaflow_inference.service import VersionChooser
from aquaflow_shared.contracts import Classification, Detection

log = structlog.get_logger(component="drift")


def load_reference(path: Path) -> DriftReference | None:
    """The reference kept beside the model; None when there is none."""
    if not path.is_file():
        return None
    return DriftReference.from_document(json.loads(path.read_text()))


class DriftWatch:
    """One model's monitor and its metrics.

    Measuring and testing are CPU work (a few milliseconds per test): they run in worker threads,
    off the event loop the messages share, one at a time under a lock.
    """

    def __init__(self, monitor: DriftMonitor, metrics: DriftMetrics) -> None:
        self._monitor = monitor
        self._metrics = metrics
        self._drifting: set[str] = set()  # signals whose latest test detected drift, to log only changes
        self._lock = threading.Lock()
        for signal in monitor.signals:
            metrics.detected.labels(monitor.model, signal).set(0)

    async def classified(
        self, images: Sequence[Image.Image], answers: Sequence[Classification], *, object_size: bool
    ) -> None:
        if images:
            await self._run(lambda: measure_classified(images, answers, object_size=object_size))

    async def detected(self, image: Image.Image, detections: Sequence[Detection]) -> None:
        await self._run(lambda: measure_detected(image, detections))

    async def _run(self, measure: Callable[[], Measurements]) -> None:
        try:
            await asyncio.to_thread(lambda: self.observe(measure()))
        except Exception:  # watching must never fail the inference it watches (logged with its trace)
            log.exception("drift watch failed", model=self._monitor.model)

    def observe(self, measured: Measurements) -> list[DriftScore]:
        with self._lock:
            return self._observe(measured)

    def _observe(self, measured: Measurements) -> list[DriftScore]:
        model = self._monitor.model
        for signal in self._monitor.signals:
            if added := len(measured.values(signal)):
                self._metrics.observations.labels(model, signal).inc(added)
        scores = self._monitor.observe(measured)
        for score in scores:
            self._metrics.score.labels(model, score.signal).set(score.score)
            self._metrics.p_value.labels(model, score.signal).set(score.p_value)
            self._metrics.detected.labels(model, score.signal).set(1 if score.detected else 0)
            if score.detected != (score.signal in self._drifting):
                event = "drift detected" if score.detected else "drift over"
                log.warning(event, model=model, signal=score.signal, score=round(score.score, 4), p_value=score.p_value)
                self._drifting ^= {score.signal}
        return scores


class DriftWatchedModel:
    """An ImageModel that lets the watch see every call's inputs and answers."""

    def __init__(self, model: ImageModel, watch: DriftWatch) -> None:
        self._model = model
        self._watch = watch

    @property
    def info(self) -> ModelInfo:
        return self._model.info

    async def classify(self, images: Sequence[Image.Image]) -> list[Classification]:
        answers = await self._model.classify(images)
        # A tile is not an object: its size says nothing of what the model sees.
        await self._watch.classified(images, answers, object_size=self._model.info.tile_size is None)
        return answers

    async def detect(self, image: Image.Image) -> list[Detection]:
        detections = await self._model.detect(image)
        await self._watch.detected(image, detections)
        return detections


def watch_default_version(versions: VersionChooser, watch: DriftWatch | None) -> VersionChooser:
    """The chooser, the default version's model watched (pinned versions are not)."""
    if watch is None:
        return versions

    async def choose(wanted: str | None) -> ImageModel:
        model = await versions(wanted)
        return DriftWatchedModel(model, watch) if wanted is None else model

    return choose


def drift_watch(
    model: str, settings: DriftSettings, metrics: DriftMetrics, tests: TestFactory | None = None
) -> DriftWatch | None:
    """The watch of ``model`` from its kept reference; None when disabled or when it has none."""
    if not settings.enabled:
        return None
    path = settings.reference_path(model)
    reference = load_reference(path)
    if reference is None:
        log.warning("no drift reference: the model runs unwatched", model=model, path=str(path))
        return None
    if reference.model != model:
        raise ValueError(f"{path} is the drift reference of {reference.model!r}, not of {model!r}")
    engine, available = ("given", tests) if tests is not None else available_tests()
    monitor = DriftMonitor(reference, settings.parameters(), available)
    log.info("drift watch", model=model, signals=list(monitor.signals), engine=engine, path=str(path))
    return DriftWatch(monitor, metrics)
