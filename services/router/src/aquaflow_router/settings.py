from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings


class RouterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_ROUTER_", extra="ignore")

    routing_table: Path = Path("config/routing.yaml")
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    http: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
