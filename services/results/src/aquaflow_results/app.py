"""Composition root of the results service."""

from __future__ import annotations

from typing import Any

import structlog
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.rabbit.annotations import RabbitMessage

from aquaflow_results.api import results_route
from aquaflow_results.mongo import MongoResultStore
from aquaflow_results.service import record_result
from aquaflow_results.settings import ResultsSettings
from aquaflow_results.store import InMemoryResultStore, ResultStore
from aquaflow_shared.broker import create_broker, declare_dead_letters, publish_event, raw_body, topology_of
from aquaflow_shared.contracts import InferenceCompleted, ResultAvailable, decode
from aquaflow_shared.delivery import Settler
from aquaflow_shared.http import service_app
from aquaflow_shared.logging import configure_logging
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import result_available

STAGE = "results"


def create_store(settings: ResultsSettings) -> ResultStore:
    if settings.mongodb_url is None:
        return InMemoryResultStore()
    return MongoResultStore(
        settings.mongodb_url.get_secret_value(),
        settings.database,
        settings.collection,
        settings.mongodb_timeout_seconds,
    )


def create_app(settings: ResultsSettings, store: ResultStore | None = None) -> AsgiFastStream:
    log = configure_logging("results", settings.http.log_level)
    store = store or create_store(settings)
    metrics = ConsumerMetrics()
    broker = create_broker(settings.broker, metrics.registry, service="results")
    topology = topology_of(settings.broker)
    settler = Settler.from_settings(STAGE, broker, topology, metrics, settings.broker)

    async def announce(event: ResultAvailable) -> None:
        await publish_event(broker, topology, event, result_available(event.profile, event.tenant))

    @broker.subscriber(topology.results_queue(), topology.events, ack_policy=AckPolicy.MANUAL, decoder=raw_body)
    async def on_inference_completed(body: bytes, message: RabbitMessage) -> None:
        async def work() -> dict[str, Any]:
            completed = decode(InferenceCompleted, body)
            structlog.contextvars.bind_contextvars(correlation_id=completed.correlation_id)
            outcome = await record_result(completed, store, announce)
            return {
                "outcome": outcome,
                "correlation_id": completed.correlation_id,
                "tenant": completed.tenant,
                "profile": completed.profile,
                "key": completed.object.key,
            }

        try:
            await settler.settle(message, work)
        finally:
            structlog.contextvars.clear_contextvars()

    async def start() -> None:
        if isinstance(store, InMemoryResultStore):
            log.warning("no MongoDB configured: results are kept in this process only and lost on restart")
        await store.open()
        await declare_dead_letters(broker, topology)

    async def stop() -> None:
        await store.close()

    return service_app(
        broker,
        metrics.registry,
        extra_checks=[("store", store.ping)],
        extra_routes=[("/results", results_route(store))],
        on_startup=[start],
        after_shutdown=[stop],
    )
