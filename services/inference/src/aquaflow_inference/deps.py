"""The adapters a worker runs on, bundled so tests can hand the app their own.

``production_deps`` builds the real ones: the model served by Triton over gRPC, or by a
DEEPaaS module over HTTP (``settings.backend``; either an ``ImageModel``, model_port.py),
and S3 through aiobotocore. Over Triton, the model calls of the messages in flight are
joined into fewer requests (batching.py), counting the messages still on their way to the
model (``Deps.arrivals``, which the worker's handler enters).
``Probes`` tell whether each dependency answers again after an outage
(``DependencyUnavailable.dependency`` names which one to poll).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image

from aquaflow_inference.arrivals import Arrivals
from aquaflow_inference.batching import JoinedCalls
from aquaflow_inference.deepaas_client import DEPENDENCY as DEEPAAS
from aquaflow_inference.deepaas_model import deepaas_image_model
from aquaflow_inference.metrics import InferenceMetrics
from aquaflow_inference.model_port import ImageModel, ModelInfo
from aquaflow_inference.service import VersionChooser, one_version
from aquaflow_inference.settings import InferenceSettings
from aquaflow_inference.storage import ClientLimits, ObjectReader, ObjectWriter, S3Storage
from aquaflow_inference.triton_client import TritonModel
from aquaflow_inference.triton_image_model import TritonImageModel
from aquaflow_shared.contracts import Classification, Detection

Probe = Callable[[], Awaitable[bool]]
Hook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Probes:
    """``async () -> bool`` per dependency: True once it answers again."""

    triton: Probe  # the model's server, whichever backend it is (``model_server`` names it)
    s3: Probe
    # The dependency the model's server is paused on: "triton", or "deepaas" for a DEEPaaS module.
    model_server: str = "triton"

    def by_dependency(self) -> dict[str, Probe]:
        """Keyed as ``DependencyUnavailable.dependency`` names them."""
        return {self.model_server: self.triton, "s3": self.s3}


@dataclass(frozen=True)
class Deps:
    reader: ObjectReader
    writer: ObjectWriter  # used only when settings name an output bucket
    model: ImageModel
    probes: Probes
    # The model pinned to the version a request names; unset: only model.info.version is served.
    versions: VersionChooser | None = None
    # The messages on their way to the model, which the model's calls may wait for (batching.py).
    arrivals: Arrivals = field(default_factory=Arrivals)
    # Run in order in the app's lifespan, before any message is consumed / after the broker stops.
    on_start: tuple[Hook, ...] = field(default=())
    on_stop: tuple[Hook, ...] = field(default=())


class MeasuredModel:
    """An ImageModel that reports each call's images and duration (preprocessing and answer included)."""

    def __init__(self, model: ImageModel, metrics: InferenceMetrics) -> None:
        self._model = model
        self._metrics = metrics

    @property
    def info(self) -> ModelInfo:
        return self._model.info

    async def classify(self, images: Sequence[Image.Image]) -> list[Classification]:
        if not images:
            return []
        self._metrics.batch_rows.observe(len(images))
        started = time.perf_counter()
        try:
            return await self._model.classify(images)
        finally:
            self._metrics.triton_seconds.observe(time.perf_counter() - started)

    async def detect(self, image: Image.Image) -> list[Detection]:
        self._metrics.batch_rows.observe(1)
        started = time.perf_counter()
        try:
            return await self._model.detect(image)
        finally:
            self._metrics.triton_seconds.observe(time.perf_counter() - started)


def measured_versions(deps: Deps, metrics: InferenceMetrics) -> VersionChooser:
    """The deps' version chooser, each model it gives measured."""
    choose = deps.versions or one_version(deps.model)

    async def measured(wanted: str | None) -> ImageModel:
        return MeasuredModel(await choose(wanted), metrics)

    return measured


def production_deps(settings: InferenceSettings, metrics: InferenceMetrics) -> Deps:
    storage = S3Storage(
        settings.s3,
        ClientLimits(
            connect_timeout_seconds=settings.s3_connect_timeout_seconds,
            read_timeout_seconds=settings.s3_read_timeout_seconds,
            max_connections=settings.s3_max_connections,
        ),
    )

    async def s3_ready() -> bool:
        return await storage.reachable(settings.output_bucket, settings.probe_timeout_seconds)

    if settings.backend == "deepaas":
        return _deepaas_deps(settings, storage, s3_ready)
    triton = TritonModel(
        settings.triton_grpc_url,
        settings.model,
        timeout_seconds=settings.triton_timeout_seconds,
        probe_timeout_seconds=settings.probe_timeout_seconds,
    )

    async def open_triton() -> None:
        # No waiting here: the consumer starts paused until the model is ready (its probe).
        triton.connect()

    arrivals = Arrivals()
    joined = JoinedCalls(
        triton,
        arrivals,
        max_rows=settings.batch_max_size,
        max_delay=settings.batch_max_delay_seconds,
        min_rows=settings.batch_min_size,
        on_sent=metrics.joined.record,
    )
    model = TritonImageModel(joined)
    return Deps(
        reader=storage,
        writer=storage,
        model=model,
        versions=model.version,
        arrivals=arrivals,
        probes=Probes(triton=triton.ready, s3=s3_ready),
        on_start=(storage.open, open_triton),
        on_stop=(triton.close, storage.close),
    )


def _deepaas_deps(settings: InferenceSettings, storage: S3Storage, s3_ready: Probe) -> Deps:
    """The model served by a DEEPaaS module, as config/deepaas/<model>.yaml declares it."""
    model = deepaas_image_model(
        settings.model,
        settings.deepaas_config_dir,
        url=settings.deepaas_url,
        concurrency=settings.deepaas_concurrency,
        probe_timeout_seconds=settings.probe_timeout_seconds,
    )

    async def open_deepaas() -> None:
        # No waiting here either: the consumer starts paused until the module is served.
        model.client.open()

    return Deps(
        reader=storage,
        writer=storage,
        model=model,
        versions=model.version,
        probes=Probes(triton=model.ready, s3=s3_ready, model_server=DEEPAAS),
        on_start=(storage.open, open_deepaas),
        on_stop=(model.client.close, storage.close),
    )
