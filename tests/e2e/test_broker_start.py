"""A service started while RabbitMQ is unreachable waits for it, then works: no crash, no restart loop."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from aquaflow_devstack.ports import free_port
from aquaflow_devstack.processes import ServiceProcess
from aquaflow_devstack.proxy import CuttableProxy
from aquaflow_shared.settings import BrokerSettings
from aquaflow_shared.topology import OBJECT_RECEIVED, Topology
from tests.e2e.test_shutdown import upload
from tests.support.polling import eventually, wait_for
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.e2e

ROUTING = Path(__file__).resolve().parents[2] / "config" / "routing.yaml"


def through(proxy: CuttableProxy, url: str) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{proxy.address}"))


def router_behind(proxy: CuttableProxy, broker_settings: BrokerSettings, log: Path) -> ServiceProcess:
    env = {
        "AQUAFLOW_BROKER_URL": through(proxy, broker_settings.url.get_secret_value()),
        "AQUAFLOW_BROKER_PREFIX": broker_settings.prefix,
        "AQUAFLOW_ROUTER_ROUTING_TABLE": str(ROUTING),
    }
    return ServiceProcess("router", "aquaflow_router", env, free_port(), log)


def cut_broker_address(broker_settings: BrokerSettings) -> CuttableProxy:
    """An address for the broker that refuses connections, as while RabbitMQ reboots."""
    target = urlsplit(broker_settings.url.get_secret_value())
    proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 5672).start()
    proxy.cut()
    return proxy


async def test_a_router_started_before_the_broker_waits_and_then_routes(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin, tmp_path: Path
) -> None:
    proxy = cut_broker_address(broker_settings)
    topology = Topology(prefix=broker_settings.prefix)
    router = router_behind(proxy, broker_settings, tmp_path / "router.log")
    router.start()
    try:
        assert router.process is not None
        wait_for(lambda: "broker unreachable" in router.log_path.read_text(), timeout=30, what="a retry logged")
        assert router.process.poll() is None, router.log_tail()
        routed = await rabbit.tap(topology.events.name, "inference.requested.*")
        proxy.restore()
        started = time.monotonic()
        router.wait_healthy(timeout=60)
        await rabbit.publish_many(topology.events.name, OBJECT_RECEIVED, [upload(1)])
        messages = await eventually(routed.drain, until=lambda m: len(m) == 1, timeout=30, interval=0.05)
        assert b"run-1/00001.png" in messages[0].body
        # The backoff is capped, so the wait after the broker returns is bounded too.
        assert time.monotonic() - started < 30
    finally:
        router.kill()
        proxy.stop()


async def test_a_router_waiting_for_the_broker_stops_on_sigterm(
    broker_settings: BrokerSettings, tmp_path: Path
) -> None:
    proxy = cut_broker_address(broker_settings)
    router = router_behind(proxy, broker_settings, tmp_path / "router.log")
    router.start()
    try:
        assert router.process is not None
        wait_for(lambda: "broker unreachable" in router.log_path.read_text(), timeout=30, what="a retry logged")
        started = time.monotonic()
        router.stop(grace=20)
        assert router.process.returncode == 0, router.log_tail()
        assert time.monotonic() - started < 10
    finally:
        router.kill()
        proxy.stop()
