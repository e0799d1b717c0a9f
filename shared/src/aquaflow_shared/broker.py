"""Broker construction and publishing conventions shared by every service."""

from __future__ import annotations

from typing import Any

from faststream.message import StreamMessage
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import CollectorRegistry

from aquaflow_shared.contracts import Envelope
from aquaflow_shared.settings import BrokerSettings
from aquaflow_shared.topology import Topology


def create_broker(settings: BrokerSettings, registry: CollectorRegistry, *, service: str) -> RabbitBroker:
    """A broker with publisher confirms, bounded prefetch and Prometheus metrics.

    Nothing connects here: the app's lifespan starts the broker.
    """
    return RabbitBroker(
        settings.url.get_secret_value(),
        default_channel=Channel(prefetch_count=settings.prefetch, publisher_confirms=True),
        middlewares=[RabbitPrometheusMiddleware(registry=registry, app_name=service)],
        app_id=service,
        logger=None,
    )


def topology_of(settings: BrokerSettings) -> Topology:
    return Topology(prefix=settings.prefix, delivery_limit=settings.delivery_limit)


async def publish_event(broker: RabbitBroker, topology: Topology, event: Envelope, routing_key: str) -> None:
    """Publish persistently to the events exchange and wait for the broker's confirm."""
    await broker.publish(
        event.model_dump_json().encode(),
        exchange=topology.events,
        routing_key=routing_key,
        persist=True,
        message_id=event.message_id,
        correlation_id=event.correlation_id,
        content_type="application/json",
        headers={"x-aquaflow-tenant": event.tenant, "x-aquaflow-schema-version": event.schema_version},
    )


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """Subscriber decoder that hands handlers the undecoded body.

    Handlers parse bodies themselves (``contracts.decode``) so that a malformed one
    becomes a dead letter with its reason instead of an exception inside the framework.
    """
    return message.body


async def declare_dead_letters(broker: RabbitBroker, topology: Topology) -> None:
    """Connect and declare the dead-letter exchange and queue, before any consumer starts.

    Called from an app's on_startup hook, so no dead letter can ever be unroutable.
    """
    await broker.connect()
    exchange = await broker.declare_exchange(topology.dead_letters)
    queue = await broker.declare_queue(topology.dead_letter_queue)
    await queue.bind(exchange, routing_key="#")
