"""Which confidence makes a label worth keeping: a per-model, per-class policy, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ConfidenceThresholds:
    """Thresholds keyed ``"<model>/<class>"`` or ``"<model>"``; the most specific one applies.

    A score at or above the threshold keeps the label (EcoTaxa status ``predicted``);
    below it the object stays ``unclassified`` for a person to sort.
    """

    by_key: Mapping[str, float] = field(default_factory=dict)
    default: float = 0.5

    def for_label(self, model: str, label: str) -> float:
        for key in (f"{model}/{label}", model):
            if key in self.by_key:
                return self.by_key[key]
        return self.default

    def keeps(self, model: str, label: str, score: float) -> bool:
        return score >= self.for_label(model, label)

    def applying_to(self, model: str) -> dict[str, float]:
        """The entries that can apply to ``model``, for the record kept with each result."""
        applying = {k: v for k, v in self.by_key.items() if k == model or k.startswith(f"{model}/")}
        return {"default": self.default, **dict(sorted(applying.items()))}


def calibrated_thresholds(model: str, document: Mapping[str, Any]) -> dict[str, float]:
    """The thresholds of a model's ``thresholds.json`` (written by ``python -m training.calibration``).

    Only keys of ``model`` itself (``"<model>"`` or ``"<model>/<class>"``) are taken, so a file
    kept beside one model cannot set another's; every value must be a probability.
    """
    entries = document.get("thresholds", {})
    if not isinstance(entries, Mapping):
        raise ValueError(f"{model}: thresholds.json 'thresholds' must be an object")
    found: dict[str, float] = {}
    for key, value in entries.items():
        if key != model and not str(key).startswith(f"{model}/"):
            raise ValueError(f"{model}: thresholds.json names another model's threshold {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{model}: threshold {key!r} must be a number in [0, 1], not {value!r}")
        found[str(key)] = float(value)
    return found
