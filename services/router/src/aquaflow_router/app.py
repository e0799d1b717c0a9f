"""Composition root of the router."""

from __future__ import annotations

from typing import Any

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.rabbit.annotations import RabbitMessage

from aquaflow_router.service import plan_inference
from aquaflow_router.settings import RouterSettings
from aquaflow_router.table_file import load_routing_table
from aquaflow_shared.broker import create_broker, declare_dead_letters, publish_event, raw_body, topology_of
from aquaflow_shared.contracts import ObjectReceived, decode
from aquaflow_shared.delivery import Settler
from aquaflow_shared.http import service_app
from aquaflow_shared.logging import configure_logging
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import inference_requested

STAGE = "router"


def create_app(settings: RouterSettings) -> AsgiFastStream:
    configure_logging("router", settings.http.log_level)
    table = load_routing_table(settings.routing_table)
    metrics = ConsumerMetrics()
    broker = create_broker(settings.broker, metrics.registry, service="router")
    topology = topology_of(settings.broker)
    settler = Settler.from_settings(STAGE, broker, topology, metrics, settings.broker)

    @broker.subscriber(topology.router_queue(), topology.events, ack_policy=AckPolicy.MANUAL, decoder=raw_body)
    async def on_object_received(body: bytes, message: RabbitMessage) -> None:
        async def work() -> dict[str, Any]:
            received = decode(ObjectReceived, body)
            request = plan_inference(received, table)
            await publish_event(broker, topology, request, inference_requested(request.model))
            return {
                "correlation_id": received.correlation_id,
                "tenant": received.tenant,
                "key": received.object.key,
                "route": request.route,
                "model": request.model,
            }

        await settler.settle(message, work)

    async def declare() -> None:
        await declare_dead_letters(broker, topology)

    return service_app(broker, metrics.registry, on_startup=[declare])
