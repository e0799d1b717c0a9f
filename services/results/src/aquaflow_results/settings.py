from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aquaflow_results.ecotaxa.settings import EcoTaxaSettings
from aquaflow_results.thresholds import calibrated_thresholds
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings

DEFAULT_CONFIDENCE_THRESHOLD = 0.5


class ResultsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_RESULTS_", extra="ignore")

    # A secret: a MongoDB URL may carry a user name and password.
    mongodb_url: SecretStr
    database: str = "aquaflow"
    collection: str = "results"
    samples_collection: str = "samples"
    mongodb_timeout_seconds: float = Field(default=5.0, gt=0)
    # Minimum score for a label to be kept ("predicted"); below it the object is
    # "unclassified". Keys: "<model>/<class>" or "<model>"; the most specific wins.
    confidence_thresholds: dict[str, float] = Field(default_factory=dict)
    default_confidence_threshold: float = Field(default=DEFAULT_CONFIDENCE_THRESHOLD, ge=0.0, le=1.0)
    # The thresholds calibrated on real images beside each model (<folder>/<model>/thresholds.json,
    # written by `python -m training.calibration`) are the defaults; confidence_thresholds entries
    # win over them. A missing folder adds none; None reads no file.
    calibrated_thresholds_from: Path | None = Path("model_repository")
    # One API token per tenant: {"lov": "…"}; a token sees only its tenant's data.
    api_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    # Crops and manifests larger than this are refused.
    max_read_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    ecotaxa: EcoTaxaSettings = Field(default_factory=EcoTaxaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    http: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @field_validator("confidence_thresholds")
    @classmethod
    def _thresholds_are_probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        wrong = sorted(k for k, v in value.items() if not 0.0 <= v <= 1.0)
        if wrong:
            raise ValueError(f"confidence thresholds must lie in [0, 1]: {wrong}")
        return value

    @model_validator(mode="after")
    def _calibrated_thresholds_are_defaults(self) -> ResultsSettings:
        folder = self.calibrated_thresholds_from
        if folder is None or not folder.is_dir():
            return self
        calibrated: dict[str, float] = {}
        for path in sorted(folder.glob("*/thresholds.json")):
            calibrated |= calibrated_thresholds(path.parent.name, json.loads(path.read_text()))
        self.confidence_thresholds = {**calibrated, **self.confidence_thresholds}
        return self

    @field_validator("api_tokens")
    @classmethod
    def _tokens_are_long_enough(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        short = sorted(tenant for tenant, token in value.items() if len(token.get_secret_value()) < 16)
        if short:
            raise ValueError(f"API tokens must be at least 16 characters: tenants {short}")
        return value
