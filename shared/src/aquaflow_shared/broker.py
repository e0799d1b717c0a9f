"""Broker construction and publishing conventions shared by every service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from aiormq.exceptions import AMQPConnectionError
from faststream.message import StreamMessage
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import CollectorRegistry

from aquaflow_shared.contracts import Envelope
from aquaflow_shared.settings import BrokerSettings
from aquaflow_shared.topology import Topology


def create_broker(settings: BrokerSettings, registry: CollectorRegistry, *, service: str) -> RabbitBroker:
    """A broker with publisher confirms, bounded prefetch and Prometheus metrics.

    A publish the broker returns (no queue took it) raises instead of passing for
    delivered. On shutdown, in-flight handlers get ``graceful_timeout_seconds`` to
    finish; what they still hold goes back to its queue when the channel closes.
    Nothing connects here: the app's lifespan starts the broker.
    """
    return RabbitBroker(
        settings.url.get_secret_value(),
        # Handlers take the message itself (``the_message``): nothing to inject or validate,
        # and FastDepends would run its context lookups in a worker thread for every message.
        apply_types=False,
        default_channel=Channel(prefetch_count=settings.prefetch, publisher_confirms=True, on_return_raises=True),
        middlewares=[RabbitPrometheusMiddleware(registry=registry, app_name=service)],
        app_id=service,
        logger=None,
        graceful_timeout=settings.graceful_timeout_seconds,
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


async def publish_events(broker: RabbitBroker, topology: Topology, events: Sequence[tuple[Envelope, str]]) -> None:
    """Publish several events (event, routing key) as ``publish_event`` does, their confirms awaited together.

    Returns once every publish is confirmed; if any failed, raises the first failure, and
    only after the others settled, so the caller settles its message knowing what went out.
    """
    if len(events) == 1:
        event, routing_key = events[0]
        await publish_event(broker, topology, event, routing_key)
        return
    outcomes = await asyncio.gather(
        *(publish_event(broker, topology, event, routing_key) for event, routing_key in events),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """Subscriber decoder that hands handlers the undecoded body.

    Handlers parse bodies themselves (``contracts.decode``) so that a malformed one
    becomes a dead letter with its reason instead of an exception inside the framework.
    """
    return message.body


async def the_message(message: StreamMessage[Any]) -> StreamMessage[Any]:
    """Subscriber decoder that hands handlers the whole message (body, headers, ack and nack).

    What ``Consumer`` subscribes with: it settles the message itself (manual ack) and its
    handlers parse the body themselves, as with ``raw_body``.
    """
    return message


BROKER_RETRY_FIRST_SECONDS = 0.5
BROKER_RETRY_MAX_SECONDS = 15.0
_log = logging.getLogger("aquaflow.lifecycle")


async def connect_when_reachable(
    broker: RabbitBroker,
    *,
    first_delay: float = BROKER_RETRY_FIRST_SECONDS,
    max_delay: float = BROKER_RETRY_MAX_SECONDS,
) -> None:
    """Connect, waiting with backoff while the broker is unreachable instead of failing start-up.

    A service started before RabbitMQ (a node reboot, a rolling restart of the cluster)
    waits and then starts as usual: a dependency being down pauses work, it is no crash.
    Once connected, aio-pika's robust connection handles later outages.
    """
    stop_requested = asyncio.Event()
    with _stop_on_sigterm(stop_requested):
        delay = first_delay
        while True:
            try:
                await broker.connect()
            except (AMQPConnectionError, OSError) as error:
                _log.warning("broker unreachable, retrying in %.1f s: %s", delay, error)
                try:
                    await asyncio.wait_for(stop_requested.wait(), delay)
                except TimeoutError:
                    delay = min(delay * 2, max_delay)
                    continue
                # Nothing was consumed yet, so there is nothing to settle or hand back.
                _log.info("stopped while waiting for the broker")
                sys.stdout.flush()
                os._exit(0)
            else:
                return


@contextlib.contextmanager
def _stop_on_sigterm(event: asyncio.Event) -> Iterator[None]:
    """SIGTERM sets ``event`` while the block runs; the handler that was there before comes back after.

    The ASGI server only looks at its own stop flag once start-up is over, so without this
    a service waiting for the broker could not be stopped short of SIGKILL. Outside the
    main thread (an app run by a test in a thread) signals cannot be handled: no-op.
    """
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        loop.add_signal_handler(signal.SIGTERM, event.set)
    except (RuntimeError, ValueError, NotImplementedError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


async def declare_topology(broker: RabbitBroker, topology: Topology) -> None:
    """Connect and declare what every publish relies on, before any consumer starts.

    The dead-letter exchange and queue (so no dead letter can be unroutable), and the
    events exchange with its alternate exchange and the queue behind it (so no event
    can vanish). Called from every app's on_startup hook; declaring is idempotent.
    """
    await connect_when_reachable(broker)
    dead = await broker.declare_exchange(topology.dead_letters)
    dead_queue = await broker.declare_queue(topology.dead_letter_queue)
    await dead_queue.bind(dead, routing_key="#")
    unroutable = await broker.declare_exchange(topology.unroutable)
    unroutable_queue = await broker.declare_queue(topology.unroutable_queue)
    await unroutable_queue.bind(unroutable, routing_key="#")
    await broker.declare_exchange(topology.events)


async def declare_downstream(broker: RabbitBroker, topology: Topology, queues: Sequence[RabbitQueue]) -> None:
    """Declare and bind the queues a service publishes into, whether or not their consumer runs yet.

    A publisher that declares its consumers' queues cannot lose work to start-up order:
    requests for a worker that is not running wait in its queue (this is also what
    scaling a worker from zero needs).
    """
    events = await broker.declare_exchange(topology.events)
    for queue in queues:
        declared = await broker.declare_queue(queue)
        await declared.bind(events, routing_key=queue.routing())
