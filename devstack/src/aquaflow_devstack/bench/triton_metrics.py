"""Triton's own account of batching, read from its Prometheus metrics (pure parsing).

``nv_inference_count`` counts inferences (rows), ``nv_inference_exec_count`` model
executions; between two scrapes, rows / executions is the average batch size Triton's
dynamic batcher formed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INFERENCES = "nv_inference_count"
EXECUTIONS = "nv_inference_exec_count"
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def counter_by_model(text: str, metric: str) -> dict[str, float]:
    """A counter's value per model (summed over versions) in a Prometheus text exposition."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None or match["name"] != metric:
            continue
        labels = {m["key"]: m["value"] for m in _LABEL.finditer(match["labels"] or "")}
        model = labels.get("model")
        if model is not None:
            found[model] = found.get(model, 0.0) + float(match["value"])
    return found


@dataclass(frozen=True)
class BatchCounters:
    inferences: float
    executions: float

    @classmethod
    def read(cls, text: str, model: str) -> BatchCounters:
        return cls(
            inferences=counter_by_model(text, INFERENCES).get(model, 0.0),
            executions=counter_by_model(text, EXECUTIONS).get(model, 0.0),
        )

    def since(self, earlier: BatchCounters) -> BatchCounters:
        return BatchCounters(self.inferences - earlier.inferences, self.executions - earlier.executions)

    @property
    def average_batch(self) -> float | None:
        return None if self.executions <= 0 else self.inferences / self.executions
