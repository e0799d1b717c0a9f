"""Settings fragment for pushing samples to EcoTaxa (env prefix ``AQUAFLOW_ECOTAXA_``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EcoTaxaAccount(BaseModel):
    """One tenant's EcoTaxa account and the project its samples are imported into."""

    username: str = Field(min_length=1)
    password: SecretStr
    project_id: int = Field(gt=0)


class EcoTaxaSettings(BaseSettings):
    """Where EcoTaxa is, who each tenant logs in as, and how often the pusher works.

    ``AQUAFLOW_ECOTAXA_TENANTS`` is a JSON object:
    ``{"lov": {"username": "...", "password": "...", "project_id": 42}}``.
    A tenant missing from it is never pushed.
    """

    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_ECOTAXA_", extra="ignore")

    # The server root (``https://ecotaxa.obs-vlfr.fr``) or its API base (``…/api``); unset disables pushing.
    url: str | None = None
    tenants: dict[str, EcoTaxaAccount] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=60.0, gt=0)
    # How long to wait between two looks at a running import job.
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    # How long the loop rests when no sample is due.
    idle_interval_seconds: float = Field(default=2.0, gt=0)
    # Transient failures (EcoTaxa, S3 or MongoDB unreachable) are retried after
    # initial * 2**(attempts-1) seconds, at most ``backoff_max_seconds``.
    backoff_initial_seconds: float = Field(default=5.0, gt=0)
    backoff_max_seconds: float = Field(default=600.0, gt=0)
    # A claimed sample is another replica's to take once this lease has run out.
    lease_seconds: float = Field(default=300.0, gt=0)

    @property
    def enabled(self) -> bool:
        return self.url is not None and bool(self.tenants)
