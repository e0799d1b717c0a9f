"""SIGTERM mid-flight: the service stops consuming, settles or hands back what it holds, and exits 0."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from aquaflow_devstack.ports import free_port
from aquaflow_devstack.processes import ServiceProcess
from aquaflow_shared.contracts import ObjectReceived, ObjectRef
from aquaflow_shared.settings import BrokerSettings
from aquaflow_shared.topology import OBJECT_RECEIVED, Topology
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.e2e

ROUTING = Path(__file__).resolve().parents[2] / "config" / "routing.yaml"
UPLOADS = 2000


def upload(index: int) -> bytes:
    obj = ObjectRef(bucket="plankton-flowcam", key=f"run-1/{index:05d}.png", etag=f"e{index}")
    event = ObjectReceived(
        message_id=obj.upload_id(), correlation_id=obj.upload_id(), tenant="lov", object=obj, source="minio-amqp"
    )
    return event.model_dump_json().encode()


async def test_a_terminated_router_exits_0_in_bounded_time_and_loses_nothing(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin, tmp_path: Path
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    env = {
        "AQUAFLOW_BROKER_URL": broker_settings.url.get_secret_value(),
        "AQUAFLOW_BROKER_PREFIX": broker_settings.prefix,
        "AQUAFLOW_BROKER_GRACEFUL_TIMEOUT_SECONDS": "5",
        "AQUAFLOW_ROUTER_ROUTING_TABLE": str(ROUTING),
    }
    router = ServiceProcess("router", "aquaflow_router", env, free_port(), tmp_path / "router.log")
    routed = await rabbit.tap(topology.events.name, "inference.requested.*")
    router.start()
    try:
        router.wait_healthy(timeout=60)
        assert router.process is not None
        # Frozen while the backlog is published, so the SIGTERM below lands mid-flight.
        router.process.send_signal(signal.SIGSTOP)
        await rabbit.publish_many(topology.events.name, OBJECT_RECEIVED, [upload(i) for i in range(UPLOADS)])
        router.process.send_signal(signal.SIGCONT)
        await eventually(routed.drain, until=lambda m: len(m) >= 20, timeout=30, interval=0.01)
        started = time.monotonic()
        router.stop(grace=30)
        stopped_in = time.monotonic() - started
        exit_code = router.process.returncode
    finally:
        router.kill()

    left = await rabbit.queue_messages(topology.router_queue().name)
    done = {json.loads(m.body)["object"]["key"] for m in await routed.drain()}
    waiting = {json.loads(m.body)["object"]["key"] for m in left}
    assert exit_code == 0, router.log_tail()
    assert stopped_in < 10
    assert waiting, "the router was stopped after it had finished: nothing was in flight"
    assert done | waiting == {f"run-1/{i:05d}.png" for i in range(UPLOADS)}
    assert "message settled" in router.log_path.read_text()
