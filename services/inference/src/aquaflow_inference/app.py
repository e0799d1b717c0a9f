"""Composition root of the inference worker for one model."""

from __future__ import annotations

from typing import Any

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.rabbit.annotations import RabbitMessage

from aquaflow_inference.deps import Deps, MeasuredModel, production_deps
from aquaflow_inference.metrics import InferenceMetrics
from aquaflow_inference.pipeline import ModelRunner
from aquaflow_inference.service import Limits, Output, infer_object
from aquaflow_inference.settings import InferenceSettings
from aquaflow_shared.broker import create_broker, declare_dead_letters, publish_event, raw_body, topology_of
from aquaflow_shared.contracts import InferenceRequested, decode
from aquaflow_shared.delivery import Settler
from aquaflow_shared.http import service_app
from aquaflow_shared.logging import configure_logging
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import INFERENCE_COMPLETED


def create_app(settings: InferenceSettings, deps: Deps | None = None) -> AsgiFastStream:
    """The worker; ``deps`` replaces the production adapters (Triton, S3) where given."""
    configure_logging("inference", settings.http.log_level)
    deps = deps or production_deps(settings)
    stage = f"inference.{settings.model}"
    metrics = ConsumerMetrics()
    inference_metrics = InferenceMetrics(metrics.registry)
    broker_settings = settings.broker.model_copy(update={"prefetch": settings.max_in_flight})
    broker = create_broker(broker_settings, metrics.registry, service="inference")
    topology = topology_of(settings.broker)
    settler = Settler.from_settings(stage, broker, topology, metrics, settings.broker)
    runner: ModelRunner = MeasuredModel(deps.runner, inference_metrics)
    limits = Limits(settings.max_image_pixels, settings.max_regions, settings.segment_grey_threshold)
    output = Output(settings.output_bucket, deps.writer) if settings.output_bucket else None

    @broker.subscriber(
        topology.inference_queue(settings.model), topology.events, ack_policy=AckPolicy.MANUAL, decoder=raw_body
    )
    async def on_inference_requested(body: bytes, message: RabbitMessage) -> None:
        async def work() -> dict[str, Any]:
            request = decode(InferenceRequested, body)
            completed = await infer_object(request, deps.reader, runner, limits, output)
            await publish_event(broker, topology, completed, INFERENCE_COMPLETED)
            found = len(completed.regions) + len(completed.detections)
            inference_metrics.images.labels(request.profile).inc()
            inference_metrics.objects_per_image.labels(request.profile).observe(found)
            return {
                "correlation_id": request.correlation_id,
                "tenant": request.tenant,
                "profile": request.profile,
                "key": request.object.key,
                "sample_id": request.sample_id,
                "objects": found,
                "label": completed.classification.label if completed.classification else None,
                "preview_key": completed.preview_key,
                "inference_ms": completed.inference_ms,
            }

        await settler.settle(message, work)

    async def start() -> None:
        for hook in deps.on_start:
            await hook()
        if output is not None:
            await output.writer.check_bucket(output.bucket)  # a clear error now, not one per message
        await declare_dead_letters(broker, topology)

    async def stop() -> None:
        for hook in deps.on_stop:
            await hook()

    return service_app(
        broker,
        metrics.registry,
        extra_checks=[("triton_model", deps.probes.triton), ("s3", deps.probes.s3)],
        on_startup=[start],
        after_shutdown=[stop],
    )
