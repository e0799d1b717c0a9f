from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aquaflow_shared.contracts import RoutingSegment
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings


class InferenceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_INFERENCE_", extra="ignore")

    # The one model this worker serves; each model has its own queue and workers.
    model: RoutingSegment
    triton_grpc_url: str = "127.0.0.1:8001"
    triton_timeout_seconds: float = Field(default=30.0, gt=0)
    # Messages processed at once (the broker prefetch). Many concurrent Triton calls
    # are what lets Triton's dynamic batcher form batches across uploads.
    max_in_flight: int = Field(default=32, ge=1)
    # Decompression-bomb guard: images with more pixels are refused before decoding.
    max_image_pixels: int = Field(default=60_000_000, ge=1)
    # Regions of a scan beyond this many are not classified (their number is in the measures).
    max_regions: int = Field(default=500, ge=1)
    # zooscan: pixels darker than this grey level are organism; unset = Otsu per image.
    segment_grey_threshold: int | None = Field(default=None, ge=1, le=255)
    # Where the crops of the regions of interest and the annotated preview are written for
    # EcoTaxa; it must exist (checked at start-up). Unset: no images are written.
    output_bucket: str | None = Field(default=None, min_length=3, max_length=63)
    # The S3 client: one per worker, a pool of connections shared by the messages in flight.
    s3_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    s3_read_timeout_seconds: float = Field(default=30.0, gt=0)
    s3_max_connections: int = Field(default=64, ge=1)
    # How long a probe of Triton or S3 may take before the dependency counts as still down.
    probe_timeout_seconds: float = Field(default=5.0, gt=0)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    http: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
