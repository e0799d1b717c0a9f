"""The broker as the command line uses it (aio-pika): queue figures, confirmed publishes, dead-letter passes.

A pass over the dead-letter queue takes every message that is in it when the pass
starts, holding them unacknowledged, so nothing can be lost while they are looked at:
a message the command removes (purged, or replayed once its copy is confirmed) is
acknowledged; every other one is handed back with ``basic.nack(requeue=True)``, in the
order it was taken. Quorum queues put a returned message behind the ones in the queue,
so after a whole pass the letters left keep their order among themselves; letters
that arrived during the pass come before them. Should the command die, the broker
returns whatever it held when the connection drops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from aio_pika.exceptions import AMQPError, ChannelClosed, ChannelNotFoundEntity, DeliveryError, PublishError
from aiormq.exceptions import ChannelPreconditionFailed
from faststream.rabbit import RabbitQueue

from aquaflow_cli.dead_letters import RawDeadLetter
from aquaflow_cli.errors import CliError
from aquaflow_cli.status_report import QueueFigures
from aquaflow_shared.settings import BrokerSettings

CONNECT_SECONDS = 10.0


@dataclass(frozen=True)
class Outgoing:
    """A message to publish, persistent and confirmed."""

    body: bytes
    message_id: str | None = None
    correlation_id: str | None = None
    content_type: str | None = "application/json"
    headers: dict[str, Any] | None = None


@dataclass
class Held:
    """A dead letter taken by a pass, not yet settled."""

    raw: RawDeadLetter
    message: AbstractIncomingMessage
    settled: bool = False


class BrokerClient:
    def __init__(self, settings: BrokerSettings) -> None:
        self._settings = settings
        self._connection: AbstractConnection | None = None
        self._confirming: AbstractChannel | None = None

    async def __aenter__(self) -> BrokerClient:
        url = self._settings.url.get_secret_value()
        try:
            self._connection = await aio_pika.connect(url, timeout=CONNECT_SECONDS)
        except (AMQPError, OSError, TimeoutError) as error:
            host = url.rsplit("@", 1)[-1]
            raise CliError(f"cannot reach the broker at {host}: {type(error).__name__}: {error}") from error
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._confirming = None

    def _open(self) -> AbstractConnection:
        if self._connection is None:
            raise RuntimeError("BrokerClient used outside `async with`")
        return self._connection

    async def queue_figures(self, name: str) -> QueueFigures:
        """Messages ready and consumers of a queue (a passive declare: nothing is created)."""
        channel = await self._open().channel()
        try:
            queue = await channel.declare_queue(name, passive=True)
        except ChannelNotFoundEntity:
            return QueueFigures(name, exists=False)
        finally:
            if not channel.is_closed:
                await channel.close()
        result = queue.declaration_result
        return QueueFigures(name, exists=True, messages=result.message_count or 0, consumers=result.consumer_count or 0)

    async def ensure_queue(self, queue: RabbitQueue, exchange: str, routing_key: str) -> None:
        """Declare a work queue as its consumer does, bound to ``exchange``, so what is published waits for it."""
        arguments = dict(queue.arguments or {}) | {"x-queue-type": "quorum"}
        channel = await self._open().channel()
        try:
            declared = await channel.declare_queue(queue.name, durable=True, arguments=arguments)
            events = await channel.get_exchange(exchange, ensure=True)
            await declared.bind(events, routing_key)
        except ChannelPreconditionFailed:
            pass  # declared before with other settings: it exists, which is what matters here
        except ChannelNotFoundEntity as missing:
            raise CliError(f"exchange {exchange} does not exist: is the stack started?") from missing
        finally:
            if not channel.is_closed:
                await channel.close()

    async def publish(self, exchange: str, routing_key: str, message: Outgoing) -> None:
        """Publish persistently and wait for the broker's confirm; a message no queue takes raises."""
        channel = await self._confirm_channel()
        target = channel.default_exchange if not exchange else await channel.get_exchange(exchange, ensure=False)
        outgoing = aio_pika.Message(
            message.body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            headers=message.headers or {},
            timestamp=datetime.now(UTC),
        )
        try:
            await target.publish(outgoing, routing_key=routing_key, mandatory=True)
        except (DeliveryError, PublishError) as refused:
            where = f"queue {routing_key}" if not exchange else f"{exchange} with routing key {routing_key}"
            raise CliError(f"the broker did not take the message for {where}: {refused}") from refused

    async def _confirm_channel(self) -> AbstractChannel:
        if self._confirming is None or self._confirming.is_closed:
            self._confirming = await self._open().channel(publisher_confirms=True, on_return_raises=True)
        return self._confirming

    @asynccontextmanager
    async def dead_letter_pass(self, queue_name: str, limit: int) -> AsyncIterator[list[Held]]:
        """Every dead letter in the queue now (at most ``limit``), held until the block ends.

        Letters the block did not settle (``ack``) go back to the queue in the order taken.
        """
        channel = await self._open().channel()
        held: list[Held] = []
        try:
            try:
                queue = await channel.declare_queue(queue_name, passive=True)
            except ChannelNotFoundEntity as missing:
                raise CliError(f"the dead-letter queue {queue_name} does not exist: is the prefix right?") from missing
            waiting = min(queue.declaration_result.message_count or 0, limit)
            while len(held) < waiting:
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                held.append(Held(_raw(message), message))
            yield held
        finally:
            await _hand_back(channel, held)

    async def ack(self, letter: Held) -> None:
        await letter.message.ack()
        letter.settled = True


async def _hand_back(channel: AbstractChannel, held: list[Held]) -> None:
    try:
        for letter in held:
            if not letter.settled:
                await letter.message.nack(requeue=True)
                letter.settled = True
    except (AMQPError, ChannelClosed, RuntimeError):
        pass  # the channel is gone: the broker has returned whatever it still held
    finally:
        if not channel.is_closed:
            await channel.close()


def _raw(message: AbstractIncomingMessage) -> RawDeadLetter:
    return RawDeadLetter(
        body=message.body,
        headers=dict(message.headers or {}),
        routing_key=message.routing_key or "",
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        timestamp=message.timestamp,
    )
