from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aquaflow_shared.contracts import RoutingSegment
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings


@dataclass(frozen=True)
class SweepSource:
    """One bucket, or one prefix of a bucket, that the sweep lists."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, spec: str) -> SweepSource:
        bucket, _, prefix = spec.partition("/")
        return cls(bucket=bucket, prefix=prefix)


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_INGEST_", extra="ignore")

    # Bucket → tenant, as JSON: {"plankton-flowcam": "lov"}. The only source of tenants.
    buckets: dict[str, RoutingSegment] = Field(default_factory=dict)
    # Listed as the primary source (S3 servers without notifications), as JSON:
    # ["plankton-flowcam", "obsea-frames/cam-2/"]; each bucket must be one of `buckets`.
    poll_buckets: list[str] = Field(default_factory=list)
    # Listed beside notifications, to find uploads whose notification was lost.
    reconcile_buckets: list[str] = Field(default_factory=list)
    # Seconds between sweep cycles (one listing page per source each); 0 turns the sweep off.
    sweep_interval_seconds: float = Field(default=30.0, ge=0.0)
    sweep_page_size: int = Field(default=1000, ge=1, le=1000)
    # The reconcile sweep leaves younger objects to their notification.
    reconcile_min_age_seconds: float = Field(default=120.0, ge=0.0)
    # Older objects are not announced by the sweep: their claims may have expired.
    sweep_max_age_seconds: float = Field(default=6 * 24 * 3600, gt=0.0)
    checkpoint_path: Path = Path("state/ingest-checkpoint.json")
    # Set: claims live in Redis, across replicas and restarts; unset: in this process.
    dedupe_redis_url: SecretStr | None = None
    dedupe_key_prefix: str = "aquaflow:ingest:seen:"
    dedupe_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    # How long a claim whose publish is not confirmed yet holds; a crashed holder's lease lapses.
    dedupe_lease_seconds: int = Field(default=30, ge=1)
    dedupe_max_entries: int = Field(default=200_000, ge=1)
    # S3 client: timeouts and pooled connections.
    s3_connect_timeout_seconds: float = Field(default=5.0, gt=0.0)
    s3_read_timeout_seconds: float = Field(default=30.0, gt=0.0)
    s3_max_pool_connections: int = Field(default=20, ge=1)
    # Archives (zip, tar, tar.gz/.tgz/.tar.bz2/.tar.xz): expanded into one object per file.
    archive_expand: bool = True
    archive_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    archive_max_members: int = Field(default=10_000, ge=1)
    archive_max_total_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    archive_max_ratio: float = Field(default=100.0, gt=1.0)
    # 1: archives inside the upload are refused; 2: one level of archives inside is expanded too.
    archive_max_depth: int = Field(default=2, ge=1, le=5)
    # Members go to `<prefix>/<archive key without extension>/<member path>`; empty: no prefix.
    archive_output_prefix: str = ""
    archive_workdir: Path | None = None
    # The MinIO webhook endpoint (POST /minio/events) is served when a token is set.
    webhook_auth_token: SecretStr | None = None
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    http: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @model_validator(mode="after")
    def _consistent(self) -> IngestSettings:
        if not self.buckets:
            raise ValueError('buckets is empty: set AQUAFLOW_INGEST_BUCKETS, e.g. {"plankton-flowcam": "lov"}')
        swept = {s.bucket for s in (*self.poll_sources, *self.reconcile_sources)}
        unknown = sorted(swept - set(self.buckets))
        if unknown:
            raise ValueError(f"poll_buckets or reconcile_buckets name buckets that are not in buckets: {unknown}")
        if self.sweep_max_age_seconds >= self.dedupe_ttl_seconds:
            raise ValueError(
                f"sweep_max_age_seconds ({self.sweep_max_age_seconds:g}) must be below dedupe_ttl_seconds "
                f"({self.dedupe_ttl_seconds}) by at least one sweep pass, or expired claims are announced again"
            )
        return self

    @property
    def poll_sources(self) -> tuple[SweepSource, ...]:
        return tuple(SweepSource.parse(spec) for spec in self.poll_buckets)

    @property
    def reconcile_sources(self) -> tuple[SweepSource, ...]:
        return tuple(SweepSource.parse(spec) for spec in self.reconcile_buckets)

    @property
    def sweeping(self) -> bool:
        return self.sweep_interval_seconds > 0 and bool(self.poll_buckets or self.reconcile_buckets)
