"""The adapters a worker runs on, bundled so tests can hand the app their own.

``production_deps`` builds the real ones: Triton over gRPC and S3 through aiobotocore.
``Probes`` tell whether each dependency answers again after an outage
(``DependencyUnavailable.dependency`` names which one to poll).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aquaflow_inference.metrics import InferenceMetrics
from aquaflow_inference.pipeline import ModelRunner
from aquaflow_inference.postprocess import Floats
from aquaflow_inference.preprocess import Tensor
from aquaflow_inference.settings import InferenceSettings
from aquaflow_inference.spec import ModelSpec
from aquaflow_inference.storage import ClientLimits, ObjectReader, ObjectWriter, S3Storage
from aquaflow_inference.triton_client import TritonModel

Probe = Callable[[], Awaitable[bool]]
Hook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Probes:
    """``async () -> bool`` per dependency: True once it answers again."""

    triton: Probe
    s3: Probe

    def by_dependency(self) -> dict[str, Probe]:
        """Keyed as ``DependencyUnavailable.dependency`` names them."""
        return {"triton": self.triton, "s3": self.s3}


@dataclass(frozen=True)
class Deps:
    reader: ObjectReader
    writer: ObjectWriter  # used only when settings name an output bucket
    runner: ModelRunner
    probes: Probes
    # Run in order in the app's lifespan, before any message is consumed / after the broker stops.
    on_start: tuple[Hook, ...] = field(default=())
    on_stop: tuple[Hook, ...] = field(default=())


class MeasuredModel:
    """A ModelRunner that reports each call's rows and duration."""

    def __init__(self, model: ModelRunner, metrics: InferenceMetrics) -> None:
        self._model = model
        self._metrics = metrics

    @property
    def spec(self) -> ModelSpec:
        return self._model.spec

    async def infer(self, batch: Tensor) -> Floats:
        self._metrics.batch_rows.observe(len(batch))
        started = time.perf_counter()
        try:
            return await self._model.infer(batch)
        finally:
            self._metrics.triton_seconds.observe(time.perf_counter() - started)


def production_deps(settings: InferenceSettings) -> Deps:
    triton = TritonModel(
        settings.triton_grpc_url,
        settings.model,
        timeout_seconds=settings.triton_timeout_seconds,
        probe_timeout_seconds=settings.probe_timeout_seconds,
    )
    storage = S3Storage(
        settings.s3,
        ClientLimits(
            connect_timeout_seconds=settings.s3_connect_timeout_seconds,
            read_timeout_seconds=settings.s3_read_timeout_seconds,
            max_connections=settings.s3_max_connections,
        ),
    )

    async def open_triton() -> None:
        # No waiting here: the consumer starts paused until the model is ready (its probe).
        triton.connect()

    async def s3_ready() -> bool:
        return await storage.reachable(settings.output_bucket, settings.probe_timeout_seconds)

    return Deps(
        reader=storage,
        writer=storage,
        runner=triton,
        probes=Probes(triton=triton.ready, s3=s3_ready),
        on_start=(storage.open, open_triton),
        on_stop=(triton.close, storage.close),
    )
