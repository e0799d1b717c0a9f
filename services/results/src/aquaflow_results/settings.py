from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings


class ResultsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_RESULTS_", extra="ignore")

    # Unset means the in-process store: fine for a demo, results are lost on restart.
    mongodb_url: SecretStr | None = None
    database: str = "aquaflow"
    collection: str = "results"
    mongodb_timeout_seconds: float = Field(default=5.0, gt=0)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    http: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
