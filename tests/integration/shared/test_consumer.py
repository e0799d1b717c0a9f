"""The shared consumer on the real broker: retries off the consumer, dead letters, pause on outage, no vanishing."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aio_pika.exceptions import DeliveryError
from faststream.asgi import AsgiFastStream

from aquaflow_shared.broker import create_broker
from aquaflow_shared.consumer import Consumer, Delivery, Dependency
from aquaflow_shared.delivery import ATTEMPTS_HEADER, CODE_HEADER, REASON_HEADER, ROUTING_KEY_HEADER
from aquaflow_shared.errors import DependencyUnavailable, PermanentError
from aquaflow_shared.http import service_app
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.settings import BrokerSettings
from aquaflow_shared.topology import Topology
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.integration

STAGE = "probe"
KEY = "probe.work"


@dataclass
class Script:
    """What the handler does with each body: ok, fail N times, or fail while a dependency is down."""

    flaky: dict[str, int] = field(default_factory=dict)
    dependency_down: bool = False
    attempts: list[tuple[str, int]] = field(default_factory=list)
    done: Counter[str] = field(default_factory=Counter)

    async def handle(self, delivery: Delivery) -> dict[str, Any]:
        name = json.loads(delivery.body)["name"]
        self.attempts.append((name, delivery.attempt))
        if name.startswith("bad"):
            raise PermanentError(f"{name} is bad", code="bad_input")
        if name.startswith("needs-dep") and self.dependency_down:
            raise DependencyUnavailable("thing", "connection refused")
        if self.flaky.get(name, 0) > 0:
            self.flaky[name] -= 1
            raise TimeoutError(f"{name} timed out")
        self.done[name] += 1
        return {"name": name}

    async def thing_answers(self) -> bool:
        return not self.dependency_down


def build(settings: BrokerSettings, script: Script) -> tuple[AsgiFastStream, Consumer, ConsumerMetrics]:
    metrics = ConsumerMetrics()
    broker = create_broker(settings, metrics.registry, service="probe")
    topology = Topology(prefix=settings.prefix)
    consumer = Consumer(
        stage=STAGE,
        broker=broker,
        topology=topology,
        metrics=metrics,
        settings=settings,
        queue=topology.work_queue(STAGE, KEY),
        handle=script.handle,
        dependencies=[Dependency("thing", script.thing_answers)],
    )
    return service_app(broker, metrics.registry, topology=topology, consumers=[consumer]), consumer, metrics


@pytest.fixture
def fast(broker_settings: BrokerSettings) -> BrokerSettings:
    return broker_settings.model_copy(
        update={"max_attempts": 3, "retry_backoff_seconds": 0.05, "outage_probe_seconds": 0.05, "prefetch": 4}
    )


@pytest.fixture
async def cleanup_probe_queues(rabbit: RabbitAdmin) -> AsyncIterator[None]:
    yield
    channel = await rabbit.channel()
    topology = Topology(prefix=rabbit.prefix)
    for name in (topology.work_queue_name(STAGE), topology.retry_queue(STAGE).name):
        await channel.queue_delete(name)
    await channel.close()


def outcomes(metrics: ConsumerMetrics) -> dict[str, float]:
    samples = metrics.messages.collect()[0].samples
    return {s.labels["outcome"]: s.value for s in samples if s.name.endswith("_total")}


async def publish(rabbit: RabbitAdmin, *names: str) -> None:
    topology = Topology(prefix=rabbit.prefix)
    for name in names:
        await rabbit.publish(topology.events.name, KEY, json.dumps({"name": name}).encode(), message_id=name)


@pytest.mark.usefixtures("cleanup_probe_queues")
async def test_retries_wait_in_the_retry_queue_and_count_attempts_until_they_give_up(
    fast: BrokerSettings, rabbit: RabbitAdmin
) -> None:
    script = Script(flaky={"flaky": 2, "hopeless": 99})
    app, _, metrics = build(fast, script)
    topology = Topology(prefix=fast.prefix)
    async with app:
        await publish(rabbit, "fine", "flaky", "hopeless", "bad")
        await eventually(lambda: asyncio.sleep(0, outcomes(metrics)), until=lambda o: sum(o.values()) >= 8)
        dead = await eventually(
            lambda: rabbit.queue_messages(topology.dead_letter_queue.name), until=lambda m: len(m) >= 2
        )

    # fine once; flaky twice retried then ok; hopeless retried twice then dead; bad dead at once.
    assert outcomes(metrics) == {"ok": 2.0, "retried": 4.0, "dead_lettered": 2.0}
    assert [a for n, a in script.attempts if n == "flaky"] == [1, 2, 3]
    assert [a for n, a in script.attempts if n == "hopeless"] == [1, 2, 3]
    assert script.done == Counter({"fine": 1, "flaky": 1})
    by_code = {str(m.headers[CODE_HEADER]): m for m in dead}
    assert set(by_code) == {"retries_exhausted", "bad_input"}
    assert "TimeoutError: hopeless timed out" in str(by_code["retries_exhausted"].headers[REASON_HEADER])
    assert by_code["retries_exhausted"].headers[ATTEMPTS_HEADER] == 3
    assert by_code["bad_input"].headers[ROUTING_KEY_HEADER] == KEY
    assert all(m.routing_key == f"{STAGE}.failed" for m in dead)


@pytest.mark.usefixtures("cleanup_probe_queues")
async def test_an_outage_pauses_the_stage_without_spending_attempts_and_it_resumes_by_itself(
    fast: BrokerSettings, rabbit: RabbitAdmin
) -> None:
    script = Script(dependency_down=True)
    app, consumer, metrics = build(fast.model_copy(update={"max_attempts": 2}), script)
    topology = Topology(prefix=fast.prefix)
    names = [f"needs-dep-{i}" for i in range(12)]
    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client:
        await publish(rabbit, *names)
        await eventually(lambda: asyncio.sleep(0, consumer.paused_for), until=lambda d: d == "thing")
        health = await client.get("/health")
        paused_metric = (await client.get("/metrics")).text
        # Paused: well past max_attempts' worth of probing, nothing is dead-lettered or lost.
        seen_while_down = len(script.attempts)
        await asyncio.sleep(0.5)
        assert len(script.attempts) == seen_while_down
        script.dependency_down = False
        await eventually(lambda: asyncio.sleep(0, script.done), until=lambda d: set(d) == set(names))
        await eventually(lambda: asyncio.sleep(0, consumer.paused_for), until=lambda d: d is None)
        dead = await rabbit.queue_messages(topology.dead_letter_queue.name)
        healthy_again = await client.get("/health")

    assert health.status_code == 503
    assert health.json()[f"consuming.{STAGE}"] is False
    assert re.search(r'aquaflow_consumer_paused\{dependency="thing",stage="probe"\} 1\.0', paused_metric)
    assert healthy_again.status_code == 200
    assert dead == []
    # Every attempt was the message's first: the outage did not count against it.
    assert {attempt for _, attempt in script.attempts} == {1}
    assert outcomes(metrics).get("dead_lettered", 0) == 0


async def test_events_that_no_queue_takes_land_in_the_unroutable_queue(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin
) -> None:
    app, _, _ = build(broker_settings, Script())
    topology = Topology(prefix=broker_settings.prefix)
    async with app:
        await rabbit.publish(topology.events.name, "inference.requested.no_such_model", b'{"x": 1}')
        kept = await eventually(
            lambda: rabbit.queue_messages(topology.unroutable_queue.name), until=lambda m: len(m) == 1
        )
    assert kept[0].routing_key == "inference.requested.no_such_model"


async def test_a_publish_the_broker_returns_is_a_failure_not_a_delivery(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin
) -> None:
    metrics = ConsumerMetrics()
    broker = create_broker(broker_settings, metrics.registry, service="probe")
    async with broker:
        await broker.start()
        with pytest.raises(DeliveryError):
            await broker.publish(b"{}", queue=f"{rabbit.prefix}.nobody-declared-this", persist=True)
