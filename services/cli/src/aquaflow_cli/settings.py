"""Where the command line finds the stack: the environment, then the flags of the command.

``AQUAFLOW_CLI_*`` names the services' HTTP addresses and the tenant's results token; the
broker and S3 come from the same ``AQUAFLOW_BROKER_*`` and ``AQUAFLOW_S3_*`` variables the
services read, so one environment file serves both. The defaults are the ports
``docker compose up`` publishes on this machine. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from aquaflow_shared.settings import BrokerSettings, S3Settings


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_CLI_", extra="ignore")

    results_url: str = "http://127.0.0.1:8004"
    # The tenant's token for the results API (AQUAFLOW_RESULTS_API_TOKENS holds one per tenant).
    results_token: SecretStr | None = None
    ingest_url: str | None = "http://127.0.0.1:8011"
    router_url: str | None = "http://127.0.0.1:8012"
    # Model → address of the inference worker serving it, as JSON.
    inference_urls: dict[str, str] = Field(default_factory=lambda: {"plankton_classifier": "http://127.0.0.1:8013"})
    # Triton's HTTP endpoint (v2 health); its metrics port serves nv_inference_* for rates.
    triton_url: str | None = "http://127.0.0.1:8000"
    triton_metrics_url: str | None = "http://127.0.0.1:8002"
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
