"""Drift of a model's inputs and answers against a reference kept with the model (pure: no I/O).

What the model sees and what it says, per model input (a FlowCam vignette, a ZooScan region's
crop, a drone tile, an OBSEA frame and its detections):

- ``brightness``: mean grey level of the input (0-255);
- ``contrast``: standard deviation of its grey levels;
- ``object_size``: long side of a vignette or region crop in pixels, or of a detection's box
  as a share of the frame's long side (absent for tile classifiers: a tile is not an object);
- ``confidence``: the top class's score, or each detection's score;
- ``class_mix``: the top class, or each detection's class.

Each signal keeps a sliding window of its latest values. Once the window holds enough of them,
it is compared with the reference sample (written from the model's held-out validation data by
``python -m training.drift_reference``) by a two-sample test in batch mode: Kolmogorov-Smirnov for
the numbers, chi-square for the class mix (Frouros' ``KSTest`` and ``ChiSquareTest`` where Frouros
is installed; the same SciPy tests otherwise). Drift is detected when the p-value falls below the
configured level; the score is the effect size, in [0, 1] for every signal (the KS distance,
Cramér's V of the class mix), so that a dashboard can show how far apart the two are.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy.stats import chi2_contingency, ks_2samp

from aquaflow_shared.contracts import Classification, Detection

Kind = Literal["continuous", "categorical"]

SIGNAL_KINDS: dict[str, Kind] = {
    "brightness": "continuous",
    "contrast": "continuous",
    "object_size": "continuous",
    "confidence": "continuous",
    "class_mix": "categorical",
}
REFERENCE_FORMAT = 1


# --- what one model input shows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurements:
    """Signal values from some model inputs and answers: numbers per continuous signal, class labels."""

    numbers: Mapping[str, Sequence[float]] = field(default_factory=dict)
    labels: Sequence[str] = ()

    def values(self, signal: str) -> Sequence[float] | Sequence[str]:
        return self.labels if signal == "class_mix" else self.numbers.get(signal, ())


def grey_levels(image: Image.Image) -> tuple[float, float]:
    """Mean and standard deviation of the grey levels (PIL's ``L`` conversion, 0-255)."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    return float(grey.mean()), float(grey.std())


def measure_classified(
    images: Sequence[Image.Image], answers: Sequence[Classification], *, object_size: bool = True
) -> Measurements:
    """One value per classified input: its grey levels, its long side, the top class and its score."""
    levels = [grey_levels(image) for image in images]
    numbers: dict[str, list[float]] = {
        "brightness": [mean for mean, _ in levels],
        "contrast": [std for _, std in levels],
        "confidence": [a.score for a in answers],
    }
    if object_size:
        numbers["object_size"] = [float(max(image.size)) for image in images]
    return Measurements(numbers, [a.label for a in answers])


def measure_detected(image: Image.Image, detections: Sequence[Detection]) -> Measurements:
    """The frame's grey levels once; each detection's relative size, score and class."""
    mean, std = grey_levels(image)
    long_side = float(max(image.size))
    sizes = [max(d.box.x_max - d.box.x_min, d.box.y_max - d.box.y_min) / long_side for d in detections]
    return Measurements(
        {"brightness": [mean], "contrast": [std], "object_size": sizes, "confidence": [d.score for d in detections]},
        [d.label for d in detections],
    )


# --- the reference kept with the model -----------------------------------------------------------------------


@dataclass(frozen=True)
class DriftReference:
    """Reference samples per signal: numbers for continuous signals, class counts for the class mix."""

    model: str
    numbers: Mapping[str, Sequence[float]]
    class_counts: Mapping[str, int]
    source: str = ""

    @property
    def signals(self) -> tuple[str, ...]:
        present = [s for s, values in self.numbers.items() if values]
        if self.class_counts:
            present.append("class_mix")
        return tuple(s for s in SIGNAL_KINDS if s in present)

    def sample(self, signal: str) -> NDArray[Any]:
        if signal == "class_mix":
            labels = sorted(self.class_counts)
            return np.repeat(np.array(labels, dtype=object), [self.class_counts[label] for label in labels])
        return np.asarray(self.numbers[signal], dtype=np.float64)

    @classmethod
    def from_measurements(cls, model: str, measured: Measurements, source: str, digits: int = 4) -> DriftReference:
        counts: dict[str, int] = {}
        for label in measured.labels:
            counts[label] = counts.get(label, 0) + 1
        numbers = {s: [round(float(v), digits) for v in values] for s, values in measured.numbers.items() if values}
        return cls(model, numbers, dict(sorted(counts.items())), source)

    def to_document(self) -> dict[str, Any]:
        signals: dict[str, Any] = {s: {"kind": "continuous", "values": list(v)} for s, v in self.numbers.items()}
        if self.class_counts:
            signals["class_mix"] = {"kind": "categorical", "counts": dict(self.class_counts)}
        return {"format": REFERENCE_FORMAT, "model": self.model, "source": self.source, "signals": signals}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DriftReference:
        if document.get("format") != REFERENCE_FORMAT:
            raise ValueError(f"drift reference format {document.get('format')!r}, expected {REFERENCE_FORMAT}")
        numbers: dict[str, list[float]] = {}
        counts: dict[str, int] = {}
        for signal, entry in document["signals"].items():
            kind = SIGNAL_KINDS.get(signal)
            if kind is None or entry.get("kind") != kind:
                raise ValueError(f"drift reference signal {signal!r} of kind {entry.get('kind')!r} is not known")
            if kind == "categorical":
                counts = {str(k): int(v) for k, v in entry["counts"].items()}
            else:
                numbers[signal] = [float(v) for v in entry["values"]]
        return cls(str(document["model"]), numbers, counts, str(document.get("source", "")))


# --- two-sample tests -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    statistic: float
    p_value: float


class TwoSampleTest(Protocol):
    """Batch-mode drift test: fitted once on the reference, then compared with each window."""

    def fit(self, reference: NDArray[Any]) -> None: ...

    def compare(self, window: NDArray[Any]) -> Comparison: ...


class FrourosTest:
    """A Frouros batch statistical test (``KSTest``, ``ChiSquareTest``)."""

    def __init__(self, detector: Any) -> None:
        self._detector = detector

    def fit(self, reference: NDArray[Any]) -> None:
        self._detector.fit(X=reference)

    def compare(self, window: NDArray[Any]) -> Comparison:
        result, _ = self._detector.compare(X=window)
        return Comparison(float(result.statistic), float(result.p_value))


class ScipyKS:
    """The two-sided two-sample Kolmogorov-Smirnov test, as Frouros' KSTest runs it."""

    def __init__(self) -> None:
        self._reference: NDArray[Any] = np.empty(0)

    def fit(self, reference: NDArray[Any]) -> None:
        self._reference = reference

    def compare(self, window: NDArray[Any]) -> Comparison:
        result = ks_2samp(self._reference, window, alternative="two-sided", method="auto")
        return Comparison(float(result.statistic), float(result.pvalue))


class ScipyChiSquare:
    """Chi-square test of homogeneity of the class counts, as Frouros' ChiSquareTest runs it."""

    def __init__(self) -> None:
        self._expected: Counter[Any] = Counter()

    def fit(self, reference: NDArray[Any]) -> None:
        self._expected = Counter(reference.tolist())

    def compare(self, window: NDArray[Any]) -> Comparison:
        observed = Counter(window.tolist())
        values = sorted({*self._expected, *observed})
        table = np.array([[observed[v] for v in values], [self._expected[v] for v in values]])
        statistic, p_value, _, _ = chi2_contingency(table)
        return Comparison(float(statistic), float(p_value))


TestFactory = Callable[[Kind], TwoSampleTest]


def frouros_tests(kind: Kind) -> TwoSampleTest:
    from frouros.detectors.data_drift import ChiSquareTest, KSTest  # the optional dependency

    return FrourosTest(KSTest() if kind == "continuous" else ChiSquareTest())


def scipy_tests(kind: Kind) -> TwoSampleTest:
    return ScipyKS() if kind == "continuous" else ScipyChiSquare()


def available_tests() -> tuple[str, TestFactory]:
    """Frouros where it is installed, else the same tests from SciPy: (engine name, factory)."""
    try:
        import frouros.detectors.data_drift  # noqa: F401
    except ImportError:
        return "scipy", scipy_tests
    return "frouros", frouros_tests


# --- windows and scores -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftParameters:
    window_size: int = 200  # latest values per signal compared with the reference
    min_observations: int = 50  # no test before the window holds this many
    check_every: int = 25  # new values between two tests of a signal
    p_value: float = 0.0001  # drift when a test's p-value is below this


@dataclass(frozen=True)
class DriftScore:
    signal: str
    score: float  # effect size in [0, 1]: KS distance, or Cramér's V of the class mix
    p_value: float
    detected: bool
    observations: int  # values in the window that was tested


def effect_size(kind: Kind, statistic: float, reference: int, window: int) -> float:
    if kind == "continuous":
        return statistic
    # Cramér's V of the 2 x k table (window, reference): sqrt(chi2 / n), min(rows, columns) - 1 = 1.
    return min(1.0, math.sqrt(max(statistic, 0.0) / (reference + window)))


class _SignalWindow:
    def __init__(self, kind: Kind, reference: NDArray[Any], test: TwoSampleTest, parameters: DriftParameters) -> None:
        self.kind = kind
        self._reference_size = len(reference)
        self._values: deque[Any] = deque(maxlen=parameters.window_size)
        self._parameters = parameters
        self._since_check = 0
        self._test = test
        self._test.fit(reference)

    def add(self, values: Sequence[Any]) -> None:
        self._values.extend(values)
        self._since_check += len(values)

    def due(self) -> bool:
        return len(self._values) >= self._parameters.min_observations and self._since_check >= (
            self._parameters.check_every
        )

    def check(self, signal: str) -> DriftScore:
        window = np.array(list(self._values), dtype=object if self.kind == "categorical" else np.float64)
        result = self._test.compare(window)
        self._since_check = 0
        p_value = result.p_value if math.isfinite(result.p_value) else 1.0
        return DriftScore(
            signal,
            effect_size(self.kind, result.statistic, self._reference_size, len(window)),
            p_value,
            p_value < self._parameters.p_value,
            len(window),
        )


class DriftMonitor:
    """Sliding windows of one model's signals, tested against its reference as values arrive."""

    def __init__(
        self, reference: DriftReference, parameters: DriftParameters, tests: TestFactory = scipy_tests
    ) -> None:
        self.model = reference.model
        self._windows = {
            signal: _SignalWindow(
                SIGNAL_KINDS[signal], reference.sample(signal), tests(SIGNAL_KINDS[signal]), parameters
            )
            for signal in reference.signals
        }
        self._scores: dict[str, DriftScore] = {}

    @property
    def signals(self) -> tuple[str, ...]:
        return tuple(self._windows)

    def observe(self, measured: Measurements) -> list[DriftScore]:
        """Add the values; test each signal that is due. Returns the scores of the tests that ran."""
        ran = []
        for signal, window in self._windows.items():
            values = measured.values(signal)
            if not values:
                continue
            window.add(values)
            if window.due():
                score = window.check(signal)
                self._scores[signal] = score
                ran.append(score)
        return ran

    def score(self, signal: str) -> DriftScore | None:
        """The latest test of ``signal`` (None before its first)."""
        return self._scores.get(signal)

    @property
    def drifting(self) -> tuple[str, ...]:
        return tuple(s for s, score in self._scores.items() if score.detected)
