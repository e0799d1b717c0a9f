"""Composition root of the results service: adapters, use cases, consumers and the API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aquaflow_results.api import ApiContext, create_api
from aquaflow_results.auth import TenantTokens
from aquaflow_results.dead_letter_copies import install_operator_records
from aquaflow_results.documents import DeadLetterCopy
from aquaflow_results.ecotaxa import create_pusher
from aquaflow_results.ecotaxa_link import push_when_ready
from aquaflow_results.metrics import ResultsMetrics
from aquaflow_results.mongo import MongoStore
from aquaflow_results.ports import ObjectReader, SampleReadyHook, Store
from aquaflow_results.s3 import S3ObjectReader
from aquaflow_results.samples import record_failure, record_manifest
from aquaflow_results.service import ResultRecorder, record_result
from aquaflow_results.settings import ResultsSettings
from aquaflow_results.thresholds import ConfidenceThresholds
from aquaflow_shared.broker import create_broker, publish_event, topology_of
from aquaflow_shared.consumer import Consumers, Delivery, Dependency
from aquaflow_shared.contracts import InferenceCompleted, ResultAvailable, SampleManifestReceived, decode
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER
from aquaflow_shared.http import ServiceApp, service_app
from aquaflow_shared.logging import configure_logging
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import result_available

STAGE = "results"
SAMPLES_STAGE = "results.samples"
FAILURES_STAGE = "results.failures"


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


class PusherTask:
    """The EcoTaxa pusher loop, run beside the consumers when EcoTaxa is configured."""

    def __init__(self, settings: ResultsSettings, store: Store, metrics: ResultsMetrics) -> None:
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self._settings.ecotaxa.enabled or not isinstance(self._store, MongoStore):
            return
        database = self._store.database
        pusher = create_pusher(
            self._settings.ecotaxa,
            self._settings.s3,
            database[self._settings.samples_collection],
            database[self._settings.collection],
            observer=self._metrics,
        )
        if pusher is not None:
            self._task = asyncio.create_task(pusher.run(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


def create_app(settings: ResultsSettings, deps: ResultsDeps | None = None) -> ServiceApp:
    configure_logging("results", settings.http.log_level)
    deps = deps or default_deps(settings)
    store, objects = deps.store, deps.objects
    metrics = ConsumerMetrics()
    results_metrics = ResultsMetrics(metrics.registry)
    on_ready = results_metrics.counting_ready(deps.on_sample_ready or push_when_ready(store))
    broker = create_broker(settings.broker, metrics.registry, service="results")
    topology = topology_of(settings.broker)
    thresholds = ConfidenceThresholds(settings.confidence_thresholds, settings.default_confidence_threshold)

    async def announce(event: ResultAvailable) -> None:
        await publish_event(broker, topology, event, result_available(event.profile, event.tenant))

    async def on_inference_completed(delivery: Delivery) -> dict[str, Any]:
        completed = decode(InferenceCompleted, delivery.body)
        recorder = ResultRecorder(store.results, store.samples, announce, thresholds, on_ready)
        outcome = await record_result(completed, recorder)
        return {
            "outcome": outcome,
            "tenant": completed.tenant,
            "profile": completed.profile,
            "key": completed.object.key,
            "sample_id": completed.sample_id,
        }

    async def on_sample_manifest(delivery: Delivery) -> dict[str, Any]:
        received = decode(SampleManifestReceived, delivery.body)
        stored = await record_manifest(
            received,
            reader=objects,
            results=store.results,
            samples=store.samples,
            on_ready=on_ready,
            max_bytes=settings.max_read_bytes,
        )
        return {**stored, "tenant": received.tenant, "key": received.object.key}

    async def on_inference_failure(delivery: Delivery) -> dict[str, Any]:
        letter = DeadLetterCopy(
            body=delivery.body,
            code=str(delivery.headers.get(CODE_HEADER, "")),
            reason=str(delivery.headers.get(REASON_HEADER, "")),
        )
        return await record_failure(letter, store.results, store.samples, on_ready)

    dependencies = [Dependency("mongodb", store.ping), Dependency("s3", objects.ping)]
    consumer = Consumers(broker, topology, metrics, settings.broker)
    consumers = [
        consumer(STAGE, topology.results_queue(), on_inference_completed, dependencies=dependencies),
        consumer(SAMPLES_STAGE, topology.sample_manifest_queue(), on_sample_manifest, dependencies=dependencies),
        consumer(
            FAILURES_STAGE,
            topology.inference_failures_queue(),
            on_inference_failure,
            exchange=topology.dead_letters,
            dependencies=dependencies,
        ),
    ]

    api = create_api()
    api.state.context = ApiContext(
        store=store,
        objects=objects,
        tokens=TenantTokens(settings.api_tokens),
        on_sample_ready=on_ready,
    )
    consumers.append(install_operator_records(api, consumer, store, settings, dependencies))

    pushing = PusherTask(settings, store, results_metrics)

    async def start() -> None:
        await store.open()
        await objects.open()

    async def stop() -> None:
        await objects.close()
        await store.close()

    return service_app(
        broker,
        metrics.registry,
        topology=topology,
        consumers=consumers,
        extra_checks=[("store", store.ping)],
        on_startup=[start],
        after_startup=[pushing.start],
        on_shutdown=[pushing.stop],
        after_shutdown=[stop],
        fallback=api,
    )
