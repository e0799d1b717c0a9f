"""Composition root of the inference worker for one model."""

from __future__ import annotations

import time
from typing import Any

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.rabbit.annotations import RabbitMessage

from aquaflow_inference.metrics import InferenceMetrics
from aquaflow_inference.pipeline import ModelRunner
from aquaflow_inference.postprocess import Floats
from aquaflow_inference.preprocess import Tensor
from aquaflow_inference.service import Limits, infer_object
from aquaflow_inference.settings import InferenceSettings
from aquaflow_inference.spec import ModelSpec
from aquaflow_inference.storage import S3ObjectReader
from aquaflow_inference.triton_client import TritonModel
from aquaflow_shared.broker import create_broker, declare_dead_letters, publish_event, raw_body, topology_of
from aquaflow_shared.contracts import InferenceRequested, decode
from aquaflow_shared.delivery import Settler
from aquaflow_shared.http import service_app
from aquaflow_shared.logging import configure_logging
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import INFERENCE_COMPLETED


class MeasuredModel:
    """A ModelRunner that reports each call's rows and duration."""

    def __init__(self, model: TritonModel, metrics: InferenceMetrics) -> None:
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


def create_app(settings: InferenceSettings) -> AsgiFastStream:
    configure_logging("inference", settings.http.log_level)
    stage = f"inference.{settings.model}"
    metrics = ConsumerMetrics()
    inference_metrics = InferenceMetrics(metrics.registry)
    broker_settings = settings.broker.model_copy(update={"prefetch": settings.max_in_flight})
    broker = create_broker(broker_settings, metrics.registry, service="inference")
    topology = topology_of(settings.broker)
    settler = Settler.from_settings(stage, broker, topology, metrics, settings.broker)
    triton = TritonModel(settings.triton_grpc_url, settings.model, timeout_seconds=settings.triton_timeout_seconds)
    runner: ModelRunner = MeasuredModel(triton, inference_metrics)
    storage = S3ObjectReader(settings.s3)
    limits = Limits(settings.max_image_pixels, settings.max_regions, settings.segment_grey_threshold)

    @broker.subscriber(
        topology.inference_queue(settings.model), topology.events, ack_policy=AckPolicy.MANUAL, decoder=raw_body
    )
    async def on_inference_requested(body: bytes, message: RabbitMessage) -> None:
        async def work() -> dict[str, Any]:
            request = decode(InferenceRequested, body)
            completed = await infer_object(request, storage, runner, limits)
            await publish_event(broker, topology, completed, INFERENCE_COMPLETED)
            found = len(completed.regions) + len(completed.detections)
            inference_metrics.images.labels(request.profile).inc()
            inference_metrics.objects_per_image.labels(request.profile).observe(found)
            return {
                "correlation_id": request.correlation_id,
                "tenant": request.tenant,
                "profile": request.profile,
                "key": request.object.key,
                "objects": found,
                "label": completed.classification.label if completed.classification else None,
                "inference_ms": completed.inference_ms,
            }

        await settler.settle(message, work)

    async def start() -> None:
        storage.open()
        # Consume nothing before the model is ready: a message taken now could only fail.
        await triton.open(settings.triton_ready_timeout_seconds)
        await declare_dead_letters(broker, topology)

    return service_app(
        broker,
        metrics.registry,
        extra_checks=[("triton_model", triton.ready)],
        on_startup=[start],
        after_shutdown=[triton.close],
    )
