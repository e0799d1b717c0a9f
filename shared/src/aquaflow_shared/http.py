"""The HTTP side of every service: ``/metrics`` for Prometheus, ``/health`` for probes."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from types import FrameType
from typing import Any

import uvicorn
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Receive, Scope, Send
from faststream.rabbit import RabbitBroker, RabbitQueue
from prometheus_client import CollectorRegistry, make_asgi_app

from aquaflow_shared.broker import declare_downstream, declare_topology
from aquaflow_shared.consumer import Consumer
from aquaflow_shared.settings import ObservabilitySettings
from aquaflow_shared.topology import Topology

HealthCheck = Callable[[], Awaitable[bool]]
CHECK_SECONDS = 1.5


def health_route(broker: RabbitBroker, extra_checks: Sequence[tuple[str, HealthCheck]] = ()) -> ASGIApp:
    @get
    async def health(scope: Scope) -> AsgiResponse:
        results = {"broker": await broker.ping(timeout=CHECK_SECONDS)}
        for name, check in extra_checks:
            try:
                # A dependency that hangs must not hang the probe that reports it.
                results[name] = await asyncio.wait_for(check(), CHECK_SECONDS)
            except Exception:  # noqa: BLE001 - a failing or slow probe means unhealthy, not a crash
                results[name] = False
        healthy = all(results.values())
        body = ",".join(f'"{k}":{str(v).lower()}' for k, v in results.items())
        return AsgiResponse(f'{{"healthy":{str(healthy).lower()},{body}}}'.encode(), 200 if healthy else 503)

    return health


class ServiceApp(AsgiFastStream):
    """FastStream's ASGI app, handing every path it does not serve itself to a fallback app.

    FastStream matches its routes (``/metrics``, ``/health``) by exact path only, so an
    API with path parameters (FastAPI) is mounted as the fallback instead of a route.
    """

    def __init__(self, *args: Any, fallback: ASGIApp | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fallback = fallback

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._fallback is not None and scope["type"] == "http":
            await self._fallback(scope, receive, send)
            return
        await super().not_found(scope, receive, send)


def service_app(
    broker: RabbitBroker,
    registry: CollectorRegistry,
    *,
    topology: Topology | None = None,
    consumers: Sequence[Consumer] = (),
    downstream: Sequence[RabbitQueue] = (),
    extra_checks: Sequence[tuple[str, HealthCheck]] = (),
    extra_routes: Sequence[tuple[str, ASGIApp]] = (),
    on_startup: Sequence[Callable[[], Awaitable[None]]] = (),
    after_startup: Sequence[Callable[[], Awaitable[None]]] = (),
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    after_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    fallback: ASGIApp | None = None,
) -> ServiceApp:
    """The ASGI app of a service: its broker and consumers, ``/metrics``, ``/health``, extra routes.

    With a ``topology``, the shared exchanges and queues, the ``downstream`` queues the
    service publishes into and each consumer's retry queue are declared before
    anything consumes or publishes. Each consumer reports
    ``consuming.<stage>`` in ``/health`` (false while paused on an outage).
    """

    async def declare() -> None:
        if topology is not None:
            await declare_topology(broker, topology)
            await declare_downstream(broker, topology, downstream)
        for consumer in consumers:
            await consumer.declare()

    async def stop_probing() -> None:
        for consumer in consumers:
            await consumer.stop()

    checks = [*extra_checks, *((f"consuming.{c.stage}", c.consuming) for c in consumers)]
    return ServiceApp(
        broker,
        fallback=fallback,
        # The standard-library logger, rendered as JSON by configure_logging.
        logger=logging.getLogger("aquaflow.lifecycle"),
        asgi_routes=[
            ("/metrics", make_asgi_app(registry)),
            ("/health", health_route(broker, checks)),
            *extra_routes,
        ],
        on_startup=[*on_startup, declare],
        after_startup=list(after_startup),
        on_shutdown=[stop_probing, *on_shutdown],
        after_shutdown=list(after_shutdown),
    )


def serve(app: AsgiFastStream, settings: ObservabilitySettings) -> None:
    """Run the service until SIGINT/SIGTERM (uvicorn drives the ASGI lifespan).

    On SIGTERM the lifespan stops the consumers, waits for in-flight messages (the
    broker's graceful timeout) and closes the clients. uvicorn then raises the signal
    again to whatever handler was there before; this one makes a graceful stop exit 0,
    so an orchestrator can tell it from a crash.
    """
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", lifespan="on")


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)
