"""The real RabbitMQ for tests, chosen by ``aquaflow_devstack.rabbitmq.start_rabbitmq``:
``AQUAFLOW_TEST_BROKER_URL``, else the machine's own on 127.0.0.1:5672 (started if
installed but stopped), else a container when Docker answers.

Each test gets its own name prefix, and everything declared under it is deleted
afterwards, so the suite can run again and again on the same broker.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import aio_pika

from aquaflow_devstack.rabbitmq import BROKER_URL_ENV, DEFAULT_URL, RabbitServer, delete_topology, start_rabbitmq
from aquaflow_devstack.rabbitmq import ensure_rabbitmq as devstack_ensure_rabbitmq
from aquaflow_devstack.stack import served_models
from aquaflow_shared.topology import Topology

# The machine's broker (or the one the environment names), for tests that stop and
# start the local RabbitMQ themselves; every other test takes the `rabbit_url` fixture.
RABBIT_URL = os.environ.get(BROKER_URL_ENV, DEFAULT_URL)


def find_test_broker() -> RabbitServer:
    """The session's broker; a container started here is removed by its ``stop()``."""
    return start_rabbitmq()


def ensure_rabbitmq() -> str:
    return devstack_ensure_rabbitmq(RABBIT_URL)


# Stages that only tests consume from (tests/integration/shared).
TEST_STAGES = ("probe",)

# Every prefix handed out in this test session, so the session can remove what its tests
# declared on the shared broker, whichever fixture or subprocess declared it.
ISSUED_PREFIXES: list[str] = []


def unique_prefix(stem: str = "t") -> str:
    prefix = f"aqf-{stem}-{uuid.uuid4().hex[:10]}"
    ISSUED_PREFIXES.append(prefix)
    return prefix


async def delete_issued_topologies(url: str) -> None:
    """Delete the queues and exchanges of every prefix this session handed out.

    A quorum queue is a process of its own on the broker; left behind run after run, they
    add up on a broker that outlives the test run (the machine's own RabbitMQ).
    """
    for prefix in ISSUED_PREFIXES:
        await delete_topology(url, prefix, (*served_models(), "m"), extra_stages=TEST_STAGES)


@dataclass
class QueueTap:
    """A private queue bound to an exchange, collecting what is routed to it."""

    channel: aio_pika.abc.AbstractChannel
    queue: aio_pika.abc.AbstractQueue
    messages: list[aio_pika.abc.AbstractIncomingMessage] = field(default_factory=list)

    async def drain(self) -> list[aio_pika.abc.AbstractIncomingMessage]:
        while (message := await self.queue.get(no_ack=True, fail=False)) is not None:
            self.messages.append(message)
        return self.messages

    async def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in await self.drain()]


class RabbitAdmin:
    """Direct aio-pika access for tests: publish raw bodies, tap exchanges, clean up."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._declared_queues: list[str] = []

    async def __aenter__(self) -> RabbitAdmin:
        self._connection = await aio_pika.connect_robust(self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.delete_everything()
        assert self._connection is not None
        await self._connection.close()

    async def channel(self) -> aio_pika.abc.AbstractChannel:
        assert self._connection is not None
        return await self._connection.channel()

    async def _exchange(self, channel: aio_pika.abc.AbstractChannel, name: str) -> aio_pika.abc.AbstractExchange:
        """Declare a topic exchange as the services do (the events exchange has an alternate)."""
        events = Topology(prefix=self.prefix).events
        arguments = dict(events.arguments or {}) if name == events.name else None
        return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True, arguments=arguments)

    async def tap(self, exchange: str, routing_key: str) -> QueueTap:
        channel = await self.channel()
        ex = await self._exchange(channel, exchange)
        queue = await channel.declare_queue(f"{self.prefix}.tap.{uuid.uuid4().hex[:6]}", exclusive=True)
        await queue.bind(ex, routing_key)
        return QueueTap(channel, queue)

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        channel = await self.channel()
        ex = await self._exchange(channel, exchange)
        await ex.publish(
            aio_pika.Message(
                body,
                message_id=message_id or uuid.uuid4().hex,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type="application/json",
                headers=headers or {},
            ),
            routing_key=routing_key,
        )
        await channel.close()

    async def publish_many(self, exchange: str, routing_key: str, bodies: list[bytes]) -> None:
        """Publish many persistent messages on one confirmed channel."""
        channel = await self.channel()
        ex = await self._exchange(channel, exchange)
        for body in bodies:
            message = aio_pika.Message(
                body, message_id=uuid.uuid4().hex, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await ex.publish(message, routing_key=routing_key)
        await channel.close()

    async def queue_messages(self, name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Read every message of a durable queue without consuming it (nack + requeue)."""
        channel = await self.channel()
        queue = await channel.get_queue(name, ensure=False)
        seen: list[aio_pika.abc.AbstractIncomingMessage] = []
        while (message := await queue.get(no_ack=False, fail=False, timeout=5)) is not None:
            seen.append(message)
        for message in seen:
            await message.nack(requeue=True)
        await channel.close()
        return seen

    async def delete_everything(self) -> None:
        await delete_topology(self.url, self.prefix, served_models())
