"""Composition root of the results service: adapters, use cases, consumers and the API."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp, Receive, Scope, Send
from faststream.rabbit.annotations import RabbitMessage
from prometheus_client import make_asgi_app

from aquaflow_results.api import ApiContext, create_api
from aquaflow_results.auth import TenantTokens
from aquaflow_results.ecotaxa_link import push_when_ready
from aquaflow_results.mongo import MongoStore
from aquaflow_results.ports import ObjectReader, SampleReadyHook, Store
from aquaflow_results.s3 import S3ObjectReader
from aquaflow_results.samples import record_manifest
from aquaflow_results.service import ResultRecorder, record_result
from aquaflow_results.settings import ResultsSettings
from aquaflow_results.thresholds import ConfidenceThresholds
from aquaflow_shared.broker import create_broker, declare_dead_letters, publish_event, raw_body, topology_of
from aquaflow_shared.contracts import InferenceCompleted, ResultAvailable, SampleManifestReceived, decode
from aquaflow_shared.delivery import Settler
from aquaflow_shared.http import health_route
from aquaflow_shared.logging import configure_logging
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import result_available

STAGE = "results"
SAMPLES_STAGE = "results.samples"


@dataclass(frozen=True)
class ResultsDeps:
    """The service's adapters; the app opens them at start-up and closes them at shutdown."""

    store: Store
    objects: ObjectReader
    # None: ask the EcoTaxa pusher, if installed, whenever a sample is complete or closed.
    on_sample_ready: SampleReadyHook | None = None


def default_deps(settings: ResultsSettings) -> ResultsDeps:
    store = MongoStore(
        settings.mongodb_url.get_secret_value(),
        settings.database,
        results=settings.collection,
        samples=settings.samples_collection,
        timeout_seconds=settings.mongodb_timeout_seconds,
    )
    return ResultsDeps(store=store, objects=S3ObjectReader(settings.s3))


class ServiceApp(AsgiFastStream):
    """FastStream's ASGI app that hands every path it does not serve itself to the API.

    FastStream matches its routes (``/metrics``, ``/health``) by exact path only, so the
    API, with its path parameters, is its fallback instead of a route.
    """

    def __init__(self, *args: Any, api: ASGIApp, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._api = api

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._api(scope, receive, send)
            return
        await super().not_found(scope, receive, send)


def create_app(settings: ResultsSettings, deps: ResultsDeps | None = None) -> ServiceApp:
    configure_logging("results", settings.http.log_level)
    deps = deps or default_deps(settings)
    store, objects = deps.store, deps.objects
    on_ready = deps.on_sample_ready or push_when_ready(store)
    metrics = ConsumerMetrics()
    broker = create_broker(settings.broker, metrics.registry, service="results")
    topology = topology_of(settings.broker)
    settler = Settler.from_settings(STAGE, broker, topology, metrics, settings.broker)
    samples_settler = Settler.from_settings(SAMPLES_STAGE, broker, topology, metrics, settings.broker)
    thresholds = ConfidenceThresholds(settings.confidence_thresholds, settings.default_confidence_threshold)

    async def announce(event: ResultAvailable) -> None:
        await publish_event(broker, topology, event, result_available(event.profile, event.tenant))

    @broker.subscriber(topology.results_queue(), topology.events, ack_policy=AckPolicy.MANUAL, decoder=raw_body)
    async def on_inference_completed(body: bytes, message: RabbitMessage) -> None:
        async def work() -> dict[str, Any]:
            completed = decode(InferenceCompleted, body)
            structlog.contextvars.bind_contextvars(correlation_id=completed.correlation_id)
            recorder = ResultRecorder(store.results, store.samples, announce, thresholds, on_ready)
            outcome = await record_result(completed, recorder)
            return {
                "outcome": outcome,
                "correlation_id": completed.correlation_id,
                "tenant": completed.tenant,
                "profile": completed.profile,
                "key": completed.object.key,
                "sample_id": completed.sample_id,
            }

        try:
            await settler.settle(message, work)
        finally:
            structlog.contextvars.clear_contextvars()

    @broker.subscriber(topology.sample_manifest_queue(), topology.events, ack_policy=AckPolicy.MANUAL, decoder=raw_body)
    async def on_sample_manifest(body: bytes, message: RabbitMessage) -> None:
        async def work() -> dict[str, Any]:
            received = decode(SampleManifestReceived, body)
            structlog.contextvars.bind_contextvars(correlation_id=received.correlation_id)
            stored = await record_manifest(
                received,
                reader=objects,
                results=store.results,
                samples=store.samples,
                on_ready=on_ready,
                max_bytes=settings.max_read_bytes,
            )
            return {**stored, "tenant": received.tenant, "key": received.object.key}

        try:
            await samples_settler.settle(message, work)
        finally:
            structlog.contextvars.clear_contextvars()

    api = create_api()
    api.state.context = ApiContext(
        store=store,
        objects=objects,
        tokens=TenantTokens(settings.api_tokens),
        on_sample_ready=on_ready,
    )

    async def start() -> None:
        await store.open()
        await objects.open()
        await declare_dead_letters(broker, topology)

    async def stop() -> None:
        await objects.close()
        await store.close()

    return ServiceApp(
        broker,
        api=api,
        # The standard-library logger, rendered as JSON by configure_logging.
        logger=logging.getLogger("aquaflow.lifecycle"),
        asgi_routes=[
            ("/metrics", make_asgi_app(metrics.registry)),
            ("/health", health_route(broker, [("store", store.ping)])),
        ],
        on_startup=[start],
        after_shutdown=[stop],
    )
