"""Settings of the drift watch (``AQUAFLOW_INFERENCE_DRIFT_*``), a fragment of the worker's settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aquaflow_inference.drift import DriftParameters


class DriftSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_INFERENCE_DRIFT_", extra="ignore")

    enabled: bool = True
    # The reference is <model_repository>/<model>/drift_reference.json (python -m training.drift_reference);
    # without one the worker runs unwatched and says so in its log.
    model_repository: Path = Path("model_repository")
    # Latest values per signal compared with the reference.
    window_size: int = Field(default=200, ge=10)
    # No test before a signal's window holds this many values.
    min_observations: int = Field(default=50, ge=10)
    # New values of a signal between two tests of it.
    check_every: int = Field(default=25, ge=1)
    # Drift when a test's p-value falls below this. The signals are tested again and again over
    # overlapping windows against a fixed reference sample: at 1e-4 a signal of unchanged data
    # raises a false alarm about once per 400,000 values (docs/drift.md), at 1e-3 once per 28,000.
    p_value: float = Field(default=0.0001, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _window_holds_the_minimum(self) -> DriftSettings:
        if self.min_observations > self.window_size:
            raise ValueError(f"min_observations {self.min_observations} exceeds window_size {self.window_size}")
        return self

    def parameters(self) -> DriftParameters:
        return DriftParameters(self.window_size, self.min_observations, self.check_every, self.p_value)

    def reference_path(self, model: str) -> Path:
        return self.model_repository / model / "drift_reference.json"
