"""Composition root of the inference worker for one model."""

from __future__ import annotations

from typing import Any

from faststream.asgi import AsgiFastStream

from aquaflow_inference.deps import Deps, MeasuredModel, measured_versions, production_deps
from aquaflow_inference.drift_watch import drift_watch, watch_default_version
from aquaflow_inference.metrics import InferenceMetrics
from aquaflow_inference.service import Limits, Output, infer_object
from aquaflow_inference.settings import InferenceSettings
from aquaflow_shared.broker import create_broker, publish_event, topology_of
from aquaflow_shared.consumer import Consumers, Delivery, Dependency
from aquaflow_shared.contracts import InferenceRequested, decode
from aquaflow_shared.errors import DependencyUnavailable
from aquaflow_shared.http import service_app
from aquaflow_shared.logging import configure_logging
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import INFERENCE_COMPLETED


def create_app(settings: InferenceSettings, deps: Deps | None = None) -> AsgiFastStream:
    """The worker; ``deps`` replaces the production adapters (Triton, S3) where given."""
    log = configure_logging("inference", settings.http.log_level)
    stage = f"inference.{settings.model}"
    metrics = ConsumerMetrics()
    inference_metrics = InferenceMetrics(metrics.registry)
    deps = deps or production_deps(settings, inference_metrics)
    broker_settings = settings.broker.model_copy(update={"prefetch": settings.max_in_flight})
    broker = create_broker(broker_settings, metrics.registry, service="inference")
    topology = topology_of(settings.broker)
    model = MeasuredModel(deps.model, inference_metrics)
    versions = measured_versions(deps, inference_metrics)
    # What the default version sees and says, against the reference kept with the model (docs/drift.md).
    versions = watch_default_version(versions, drift_watch(settings.model, settings.drift, inference_metrics.drift))
    limits = Limits(settings.max_image_pixels, settings.max_regions, settings.segment_grey_threshold)
    output = Output(settings.output_bucket, deps.writer) if settings.output_bucket else None

    async def on_inference_requested(delivery: Delivery) -> dict[str, Any]:
        request = decode(InferenceRequested, delivery.body)
        # On its way to the model until it calls it: the calls already waiting may wait for it.
        with deps.arrivals.expecting():
            completed = await infer_object(request, deps.reader, model, limits, output, versions=versions)
        await publish_event(broker, topology, completed, INFERENCE_COMPLETED)
        found = len(completed.regions) + len(completed.detections)
        inference_metrics.images.labels(request.profile).inc()
        inference_metrics.objects_per_image.labels(request.profile).observe(found)
        return {
            "tenant": request.tenant,
            "profile": request.profile,
            "key": request.object.key,
            "sample_id": request.sample_id,
            "objects": found,
            "label": completed.classification.label if completed.classification else None,
            "model_version": completed.model_version,
            "preview_key": completed.preview_key,
            "inference_ms": completed.inference_ms,
        }

    consumer = Consumers(broker, topology, metrics, broker_settings)(
        stage,
        topology.inference_queue(settings.model),
        on_inference_requested,
        dependencies=[Dependency(name, probe) for name, probe in deps.probes.by_dependency().items()],
    )

    unavailable_at_start: list[str] = []

    async def start() -> None:
        for hook in deps.on_start:
            await hook()
        if output is not None:
            try:
                # A missing bucket is an operator's error: refuse to start, with a clear message.
                await output.writer.check_bucket(output.bucket)
            except DependencyUnavailable as down:
                # S3 itself is down: start anyway, paused until it answers (a restart must not fail).
                log.warning("S3 unreachable at start-up", reason=down.reason)
                unavailable_at_start.append(down.dependency)

    async def stop() -> None:
        for hook in deps.on_stop:
            await hook()

    async def wait_for_dependencies() -> None:
        # Triton may still be starting (or down), S3 may be down: consume nothing until they answer.
        if unavailable_at_start:
            consumer.pause(unavailable_at_start[0])
        elif not await deps.probes.triton():
            consumer.pause(deps.probes.model_server)

    return service_app(
        broker,
        metrics.registry,
        topology=topology,
        consumers=[consumer],
        downstream=[topology.results_queue()],
        after_startup=[wait_for_dependencies],
        extra_checks=[(f"{deps.probes.model_server}_model", deps.probes.triton), ("s3", deps.probes.s3)],
        on_startup=[start],
        after_shutdown=[stop],
    )
