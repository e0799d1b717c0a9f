"""Composition root of the router."""

from __future__ import annotations

from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.rabbit import RabbitQueue

from aquaflow_router.metrics import RouterMetrics
from aquaflow_router.routing import RoutingTable
from aquaflow_router.service import plan
from aquaflow_router.settings import RouterSettings
from aquaflow_router.table_file import load_routing_table
from aquaflow_shared.broker import create_broker, publish_events, topology_of
from aquaflow_shared.consumer import Consumers, Delivery
from aquaflow_shared.contracts import InferenceRequested, ObjectReceived, decode
from aquaflow_shared.errors import PermanentError
from aquaflow_shared.http import service_app
from aquaflow_shared.logging import configure_logging
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import UNROUTABLE_STAGE, Topology, is_announcement

STAGE = "router"


def downstream_queues(topology: Topology, table: RoutingTable) -> list[RabbitQueue]:
    """Every queue the router publishes into, so a request waits for a worker that is not running yet."""
    return [*(topology.inference_queue(model) for model in sorted(table.models)), topology.sample_manifest_queue()]


def create_app(settings: RouterSettings, deps: RoutingTable | None = None) -> AsgiFastStream:
    configure_logging("router", settings.http.log_level)
    table = deps or load_routing_table(settings.routing_table)
    metrics = ConsumerMetrics()
    router_metrics = RouterMetrics(metrics.registry)
    broker = create_broker(settings.broker, metrics.registry, service="router")
    topology = topology_of(settings.broker)

    async def on_object_received(delivery: Delivery) -> dict[str, Any]:
        received = decode(ObjectReceived, delivery.body)
        planned = plan(received, table)
        # All confirmed before the message is acked; if a publish fails, the message is retried
        # and the requests already sent go out again with the same message ids (at least once).
        await publish_events(broker, topology, planned)
        requests = [event for event, _ in planned if isinstance(event, InferenceRequested)]
        for request in requests:
            router_metrics.requested(request.model, request.model_version)
        first = planned[0][0]
        return {
            "tenant": received.tenant,
            "key": received.object.key,
            "route": first.route,
            "routing_keys": [routing_key for _, routing_key in planned],
            "models": [f"{r.model}@{r.model_version}" if r.model_version else r.model for r in requests],
            "sample_id": getattr(first, "sample_id", None),
        }

    async def on_unroutable(delivery: Delivery) -> dict[str, Any]:
        if is_announcement(delivery.routing_key):
            # A result announced while no downstream tool listens: nothing was lost, the
            # result is stored and readable through the API.
            return {"outcome": "unsubscribed", "routing_key": delivery.routing_key}
        # Work published for a routing key no queue is bound to: dead-letter it with that
        # key instead of letting it vanish.
        raise PermanentError(
            f"no queue is bound for routing key {delivery.routing_key!r} on {topology.events.name}", code="unroutable"
        )

    consumer = Consumers(broker, topology, metrics, settings.broker)
    routing = consumer(STAGE, topology.router_queue(), on_object_received)
    unroutable = consumer(UNROUTABLE_STAGE, topology.unroutable_queue, on_unroutable, exchange=topology.unroutable)

    return service_app(
        broker,
        metrics.registry,
        topology=topology,
        consumers=[routing, unroutable],
        downstream=downstream_queues(topology, table),
    )
