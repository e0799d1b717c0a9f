from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aquaflow_shared.contracts import RoutingSegment
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings


@dataclass(frozen=True)
class PollSource:
    """One bucket, or one prefix of a bucket, that the poller lists."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, spec: str) -> PollSource:
        bucket, _, prefix = spec.partition("/")
        return cls(bucket=bucket, prefix=prefix)

    @property
    def name(self) -> str:
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_INGEST_", extra="ignore")

    # Bucket → tenant, as JSON: {"plankton-flowcam": "lov"}. The only source of tenants.
    buckets: dict[str, RoutingSegment] = Field(default_factory=dict)
    # What the poller lists, as JSON: ["plankton-flowcam", "obsea-frames/cam-2/"]; each
    # bucket must be one of `buckets`. Empty, or an interval of 0, turns the poller off.
    poll_buckets: list[str] = Field(default_factory=list)
    poll_interval_seconds: float = Field(default=30.0, ge=0.0)
    # How far below the newest object seen the poller still looks for late arrivals.
    poll_grace_seconds: float = Field(default=300.0, ge=0.0)
    checkpoint_path: Path = Path("state/ingest-checkpoint.json")
    # Set: duplicates are detected in Redis, across replicas and restarts; unset: in this process.
    dedupe_redis_url: SecretStr | None = None
    dedupe_key_prefix: str = "aquaflow:ingest:seen:"
    dedupe_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    dedupe_max_entries: int = Field(default=200_000, ge=1)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    http: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @model_validator(mode="after")
    def _watch_buckets(self) -> IngestSettings:
        if not self.buckets:
            raise ValueError('buckets is empty: set AQUAFLOW_INGEST_BUCKETS, e.g. {"plankton-flowcam": "lov"}')
        unknown = sorted({s.bucket for s in self.poll_sources} - set(self.buckets))
        if unknown:
            raise ValueError(f"poll_buckets names buckets that are not in buckets: {unknown}")
        return self

    @property
    def poll_sources(self) -> tuple[PollSource, ...]:
        return tuple(PollSource.parse(spec) for spec in self.poll_buckets)

    @property
    def polling(self) -> bool:
        return self.poll_interval_seconds > 0 and bool(self.poll_buckets)
