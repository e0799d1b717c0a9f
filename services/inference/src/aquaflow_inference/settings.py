from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aquaflow_inference.drift_settings import DriftSettings
from aquaflow_shared.contracts import RoutingSegment
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings


class InferenceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQUAFLOW_INFERENCE_", extra="ignore")

    # The one model this worker serves; each model has its own queue and workers.
    model: RoutingSegment
    # What serves the model: Triton (its configuration in model_repository/), or a DEEPaaS
    # module declared in <deepaas_config_dir>/<model>.yaml (docs/model-contract.md, "DEEPaaS").
    backend: Literal["triton", "deepaas"] = "triton"
    triton_grpc_url: str = "127.0.0.1:8001"
    triton_timeout_seconds: float = Field(default=30.0, gt=0)
    deepaas_config_dir: Path = Path("config/deepaas")
    # The DEEPaaS API's base URL (http://host:5000); unset: the declaration's endpoint.
    deepaas_url: str | None = None
    # Requests sent to the DEEPaaS module at once (its server's --workers); unset: the declaration's.
    deepaas_concurrency: int | None = Field(default=None, ge=1)
    # Messages processed at once (the broker prefetch). Many messages in flight are what
    # lets the worker join their model calls into batches across uploads.
    max_in_flight: int = Field(default=32, ge=1)
    # The model calls of the messages in flight are joined into one request of at most this
    # many rows (and at most the model's max_batch_size); 1 sends each call alone
    # (docs/model-contract.md, "Joining the calls of the messages in flight").
    batch_max_size: int = Field(default=32, ge=1)
    # Calls wait for the other messages still on their way only when, all together, they would
    # make a request of at least this many rows: a worker holding a few uploads (not saturated)
    # sends at once, so joining costs no latency below full load.
    batch_min_size: int = Field(default=8, ge=1)
    # How long a call may wait for the calls of the other messages still on their way to the
    # model. A call goes at once when no other message is on its way (an idle worker's single
    # upload is never delayed), when too few are on their way (batch_min_size) or when the rows
    # waiting fill a request, so this only delays calls of a saturated worker; chosen by
    # measurement (docs/model-contract.md, docs/bench.md).
    batch_max_delay_seconds: float = Field(default=0.5, ge=0)
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
    drift: DriftSettings = Field(default_factory=DriftSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    http: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
