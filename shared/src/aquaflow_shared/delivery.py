"""How a consumed message is settled: acknowledged, retried or dead-lettered.

Handlers run under ``Settler.settle``. A ``PermanentError`` sends the original
body to the dead-letter exchange with the reason in its headers, then acks it.
Any other exception is retried with a growing delay by requeueing, until
``max_attempts`` deliveries have failed; then it is dead-lettered with the last
reason. The queue's own ``x-delivery-limit`` remains the safety net for a
consumer that dies before it can decide.

The dead letter is published with a confirm *before* the original is acked, so a
crash in between leads to a second dead letter with the same ``message_id``,
never to a lost message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from faststream.rabbit import RabbitBroker
from faststream.rabbit.message import RabbitMessage

from aquaflow_shared.errors import PermanentError
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.settings import BrokerSettings
from aquaflow_shared.topology import Topology, failed

REASON_HEADER = "x-aquaflow-reason"
CODE_HEADER = "x-aquaflow-error-code"
STAGE_HEADER = "x-aquaflow-stage"
ATTEMPTS_HEADER = "x-aquaflow-attempts"
ROUTING_KEY_HEADER = "x-aquaflow-original-routing-key"
MAX_REASON_LENGTH = 2000


def delivery_count(message: RabbitMessage) -> int:
    """How many times this message was delivered before (quorum queues count it)."""
    raw = message.raw_message.headers.get("x-delivery-count", 0) if message.raw_message.headers else 0
    try:
        return int(str(raw))
    except ValueError:
        return 0


@dataclass(frozen=True)
class DeadLetter:
    body: bytes
    stage: str
    reason: str
    code: str
    attempt: int
    message_id: str | None
    correlation_id: str | None = None
    content_type: str | None = "application/json"
    original_routing_key: str = ""
    headers: dict[str, Any] = field(default_factory=dict)


async def publish_dead_letter(
    broker: RabbitBroker, topology: Topology, metrics: ConsumerMetrics, letter: DeadLetter
) -> None:
    """Publish to the dead-letter exchange (persistent, confirmed) with the reason in headers.

    Every dead letter of every stage goes through here, so one queue and one
    dashboard describe them all alike.
    """
    headers = {
        **letter.headers,
        REASON_HEADER: letter.reason[:MAX_REASON_LENGTH],
        CODE_HEADER: letter.code,
        STAGE_HEADER: letter.stage,
        ATTEMPTS_HEADER: letter.attempt,
        ROUTING_KEY_HEADER: letter.original_routing_key,
    }
    await broker.publish(
        letter.body,
        exchange=topology.dead_letters,
        routing_key=failed(letter.stage),
        persist=True,
        headers=headers,
        message_id=letter.message_id,
        correlation_id=letter.correlation_id,
        content_type=letter.content_type,
    )
    metrics.dead_letters.labels(letter.stage, letter.code).inc()


class Settler:
    def __init__(
        self,
        *,
        stage: str,
        broker: RabbitBroker,
        topology: Topology,
        metrics: ConsumerMetrics,
        max_attempts: int,
        retry_backoff_seconds: float,
        retry_backoff_max_seconds: float = 30.0,
    ) -> None:
        self._stage = stage
        self._broker = broker
        self._topology = topology
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._backoff = retry_backoff_seconds
        self._backoff_max = retry_backoff_max_seconds
        self._log = structlog.get_logger(stage=stage)

    @classmethod
    def from_settings(
        cls, stage: str, broker: RabbitBroker, topology: Topology, metrics: ConsumerMetrics, settings: BrokerSettings
    ) -> Settler:
        return cls(
            stage=stage,
            broker=broker,
            topology=topology,
            metrics=metrics,
            max_attempts=settings.max_attempts,
            retry_backoff_seconds=settings.retry_backoff_seconds,
            retry_backoff_max_seconds=settings.retry_backoff_max_seconds,
        )

    async def settle(self, message: RabbitMessage, work: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Run ``work`` and settle ``message`` by its outcome.

        ``work`` returns the fields of the canonical log line (ids, outcome details).
        """
        started = time.perf_counter()
        attempt = delivery_count(message) + 1
        fields: dict[str, Any] = {"message_id": message.message_id, "attempt": attempt}
        try:
            fields |= await work()
        except PermanentError as error:
            await self.dead_letter(message, reason=error.reason, code=error.code, attempt=attempt)
            await message.ack()
            self._finish("dead_lettered", started, fields | {"reason": error.reason, "code": error.code})
        except Exception as error:  # noqa: BLE001 - anything else is retried, then dead-lettered
            reason = f"{type(error).__name__}: {error}"
            if attempt >= self._max_attempts:
                await self.dead_letter(
                    message,
                    reason=f"gave up after {attempt} attempts: {reason}",
                    code="retries_exhausted",
                    attempt=attempt,
                )
                await message.ack()
                self._finish("dead_lettered", started, fields | {"reason": reason, "code": "retries_exhausted"})
            else:
                # Hold the message before requeueing so a dependency that is down is
                # not hammered; the delay doubles with each attempt, up to a cap.
                await asyncio.sleep(min(self._backoff * 2 ** (attempt - 1), self._backoff_max))
                await message.nack(requeue=True)
                self._finish("retried", started, fields | {"reason": reason})
        else:
            await message.ack()
            self._finish(str(fields.pop("outcome", "ok")), started, fields)

    async def dead_letter(self, message: RabbitMessage, *, reason: str, code: str, attempt: int) -> None:
        raw = message.raw_message
        await publish_dead_letter(
            self._broker,
            self._topology,
            self._metrics,
            DeadLetter(
                body=raw.body,
                stage=self._stage,
                reason=reason,
                code=code,
                attempt=attempt,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                content_type=raw.content_type,
                original_routing_key=raw.routing_key or "",
                headers=dict(raw.headers or {}),
            ),
        )

    def _finish(self, outcome: str, started: float, fields: dict[str, Any]) -> None:
        elapsed = time.perf_counter() - started
        self._metrics.messages.labels(self._stage, outcome).inc()
        self._metrics.duration.labels(self._stage).observe(elapsed)
        level = "warning" if outcome in {"dead_lettered", "retried"} else "info"
        getattr(self._log, level)("message settled", outcome=outcome, duration_ms=round(elapsed * 1000, 2), **fields)
