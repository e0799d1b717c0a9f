"""Which confidence makes a label worth keeping: a per-model, per-class policy, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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
