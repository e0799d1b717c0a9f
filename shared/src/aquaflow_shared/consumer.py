"""One way to consume: manual ack, settlement by policy, log context, pause on outage.

Every stage registers its handler through ``Consumer``. The handler receives the
undecoded body (it parses it itself, so a malformed one becomes a dead letter with
its reason) and returns the fields of the canonical log line. What happens next is
decided by ``settlement.RetryPolicy``:

- success: ack.
- ``PermanentError``: the original goes to the dead-letter exchange with the reason
  in its headers (confirmed), then it is acked.
- a message-specific failure: a copy waits in the stage's retry queue for its delay
  (it holds no consumer slot meanwhile) and the broker then puts it back in the
  stage's queue; the copy carries the count of failed attempts in a header, so
  attempts are counted by the stage, not by redeliveries. After ``max_attempts``
  it is dead-lettered as ``retries_exhausted``.
- ``DependencyUnavailable``: the message goes back to its queue unchanged (its
  attempts are not counted), and the consumer stops taking messages, probes the
  dependency with backoff and starts again once it answers.

Every copy is published with a confirm before the original is acked, so a crash in
between leaves a duplicate (same ``message_id``), never a lost message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.message import RabbitMessage

from aquaflow_shared.broker import the_message
from aquaflow_shared.delivery import DeadLetter, publish_dead_letter
from aquaflow_shared.metrics import Children, ConsumerMetrics
from aquaflow_shared.settings import BrokerSettings
from aquaflow_shared.settlement import Action, Decision, RetryPolicy
from aquaflow_shared.topology import Topology

# How many attempts at this message have failed so far (set on retried copies).
FAILED_ATTEMPTS_HEADER = "x-aquaflow-failed-attempts"
LAST_ERROR_HEADER = "x-aquaflow-last-error"
# Headers the broker sets on delivery; a republished copy must not carry stale ones.
_BROKER_HEADERS = (
    "x-delivery-count",
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
)

Probe = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Delivery:
    """What a handler gets: the undecoded body and the properties that identify it."""

    body: bytes
    headers: Mapping[str, Any]
    routing_key: str
    message_id: str | None
    correlation_id: str | None
    attempt: int


Handler = Callable[[Delivery], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Dependency:
    """Something a stage cannot work without, and how to tell that it is back."""

    name: str
    probe: Probe


def failed_attempts(headers: Mapping[str, Any]) -> int:
    try:
        return max(int(str(headers.get(FAILED_ATTEMPTS_HEADER, 0))), 0)
    except ValueError:
        return 0


class Consumer:
    def __init__(
        self,
        *,
        stage: str,
        broker: RabbitBroker,
        topology: Topology,
        metrics: ConsumerMetrics,
        settings: BrokerSettings,
        queue: RabbitQueue,
        handle: Handler,
        exchange: RabbitExchange | None = None,
        dependencies: Sequence[Dependency] = (),
    ) -> None:
        self.stage = stage
        self._broker = broker
        self._topology = topology
        self._metrics = metrics
        self._queue = queue
        self._retry_queue = topology.retry_queue(stage)
        self._handle = handle
        self._probes = {d.name: d.probe for d in dependencies}
        self._policy = RetryPolicy(
            settings.max_attempts, settings.retry_backoff_seconds, settings.retry_backoff_max_seconds
        )
        self._probe_first = settings.outage_probe_seconds
        self._probe_max = settings.outage_probe_max_seconds
        self._paused_for: str | None = None
        self._resume_task: asyncio.Task[None] | None = None
        # Bound now (the service configured logging before building its consumers), so a log
        # line does not build its logger again from the configuration, as a lazy proxy does.
        self._log = structlog.get_logger(stage=stage).bind()
        # Labelled children looked up once, not per message (a lookup locks and checks labels).
        self._settled = Children(metrics.messages)
        self._duration = metrics.duration.labels(stage)
        self._queue_wait = metrics.queue_wait.labels(stage)
        self._subscriber = broker.subscriber(
            queue, exchange or topology.events, ack_policy=AckPolicy.MANUAL, decoder=the_message
        )
        # Exported as 0 from the start, so a dashboard and an alert see "not paused", not "no data".
        for dependency in self._probes:
            metrics.paused.labels(stage, dependency).set(0)
            metrics.outages.labels(stage, dependency)

        # The decoder hands over the whole message, so nothing is injected from FastStream's
        # context (with ``apply_types``, that costs a worker-thread round trip per message).
        # ``Any``: a broker that does inject arguments refuses a parameter typed with a class.
        @self._subscriber
        async def on_message(message: Any) -> None:
            await self._settle(message)

    @property
    def paused_for(self) -> str | None:
        """The dependency this stage is waiting for, or None while it consumes."""
        return self._paused_for

    async def consuming(self) -> bool:
        """Health check: true once the broker-side consumer exists, false while paused on an outage.

        FastStream's ASGI lifespan reports start-up complete before it starts the broker's
        subscribers, so ``/health`` can answer before this stage's queue is even bound: ready
        must mean consuming, not merely not paused.
        """
        return self._paused_for is None and self._subscriber._consumer_tag is not None

    async def declare(self) -> None:
        """Declare the retry queue (the broker must be connected)."""
        await self._broker.declare_queue(self._retry_queue)

    async def stop(self) -> None:
        """Stop probing (shutdown); the broker closes the subscriber itself."""
        if self._resume_task is not None:
            self._resume_task.cancel()
            await asyncio.gather(self._resume_task, return_exceptions=True)

    async def _settle(self, message: RabbitMessage) -> None:
        if self._paused_for is not None:
            # Delivered before the broker saw the cancel: hand it back untouched.
            await self._hand_back(message)
            return
        raw = message.raw_message
        self._observe_queue_wait(raw.timestamp)
        headers = dict(raw.headers or {})
        failed = failed_attempts(headers)
        delivery = Delivery(
            body=message.body,
            headers=headers,
            routing_key=raw.routing_key or "",
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            attempt=failed + 1,
        )
        structlog.contextvars.bind_contextvars(message_id=delivery.message_id, correlation_id=delivery.correlation_id)
        started = time.perf_counter()
        fields: dict[str, Any] = {
            "message_id": delivery.message_id,
            "correlation_id": delivery.correlation_id,
            "attempt": delivery.attempt,
        }
        error: Exception | None = None
        try:
            fields |= await self._handle(delivery)
        except Exception as failure:  # noqa: BLE001 - the policy decides what every failure means
            error = failure
        decision = self._policy.decide(error, delivery.attempt)
        try:
            outcome = await self._apply(decision, message, delivery, fields)
        except Exception as settle_error:  # noqa: BLE001 - cannot settle: the broker keeps the message
            outcome = "unsettled"
            fields["settle_error"] = f"{type(settle_error).__name__}: {settle_error}"
            await self._give_back(message)
        if decision.reason:
            fields |= {"reason": decision.reason, "code": decision.code}
        self._finish(outcome, started, fields)
        structlog.contextvars.clear_contextvars()

    async def _apply(
        self, decision: Decision, message: RabbitMessage, delivery: Delivery, fields: dict[str, Any]
    ) -> str:
        if decision.action is Action.ACK:
            await message.ack()
            return str(fields.pop("outcome", "ok"))
        if decision.action is Action.DEAD_LETTER:
            await self._dead_letter(message, delivery, decision)
            await message.ack()
            return "dead_lettered"
        if decision.action is Action.RETRY:
            await self._republish(
                message,
                self._retry_queue.name,
                failed=delivery.attempt if decision.counts_attempt else delivery.attempt - 1,
                reason=decision.reason,
                delay=decision.delay_seconds,
            )
            await message.ack()
            self._metrics.retries.labels(self.stage, decision.code).inc()
            return "retried"
        # Not the message's fault: back to its queue as it came, and stop taking more.
        await self._republish(message, self._queue.name, failed=delivery.attempt - 1, reason=decision.reason)
        await message.ack()
        self.pause(decision.dependency or "unknown")
        return "requeued"

    async def _hand_back(self, message: RabbitMessage) -> None:
        raw = message.raw_message
        failed = failed_attempts(raw.headers or {})
        try:
            await self._republish(message, self._queue.name, failed=failed, reason=f"paused: {self._paused_for}")
            await message.ack()
        except Exception:  # noqa: BLE001 - cannot republish: the broker keeps the message
            await self._give_back(message)
        self._settled(self.stage, "requeued").inc()

    async def _republish(
        self, message: RabbitMessage, queue: str, *, failed: int, reason: str, delay: float | None = None
    ) -> None:
        raw = message.raw_message
        headers = {k: v for k, v in (raw.headers or {}).items() if k not in _BROKER_HEADERS}
        headers |= {FAILED_ATTEMPTS_HEADER: failed, LAST_ERROR_HEADER: reason[:500]}
        await self._broker.publish(
            raw.body,
            queue=queue,
            persist=True,
            mandatory=True,
            headers=headers,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=raw.content_type,
            expiration=delay,
        )

    async def _dead_letter(self, message: RabbitMessage, delivery: Delivery, decision: Decision) -> None:
        raw = message.raw_message
        await publish_dead_letter(
            self._broker,
            self._topology,
            self._metrics,
            DeadLetter(
                body=raw.body,
                stage=self.stage,
                reason=decision.reason,
                code=decision.code,
                attempt=delivery.attempt,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                content_type=raw.content_type,
                original_routing_key=delivery.routing_key,
                headers={k: v for k, v in delivery.headers.items() if k not in _BROKER_HEADERS},
            ),
        )

    @staticmethod
    async def _give_back(message: RabbitMessage) -> None:
        try:
            await message.nack(requeue=True)
        except Exception:  # noqa: BLE001, S110 - a closed channel returns the message by itself
            pass

    def pause(self, dependency: str) -> None:
        """Stop taking messages until ``dependency``'s probe answers (an outage, or start-up before it is ready)."""
        if self._resume_task is not None:
            return
        self._paused_for = dependency
        self._metrics.paused.labels(self.stage, dependency).set(1)
        self._metrics.outages.labels(self.stage, dependency).inc()
        self._log.warning("dependency unavailable: consumption paused", dependency=dependency)
        # A task of its own: stopping the subscriber waits for the handlers in flight,
        # and the handler that noticed the outage is one of them.
        self._resume_task = asyncio.create_task(self._resume_when_back(dependency))

    async def _resume_when_back(self, dependency: str) -> None:
        # This task inherited the log context of the message that noticed the outage.
        structlog.contextvars.clear_contextvars()
        probe = self._probes.get(dependency)
        delay = self._probe_first
        try:
            await self._cancel_consumer()
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._probe_max)
                if probe is not None and not await self._answers(probe):
                    self._log.info("dependency still unavailable", dependency=dependency, next_probe_seconds=delay)
                    continue
                if await self._restart_consumer():
                    break
            self._log.info("dependency back: consumption resumed", dependency=dependency)
        finally:
            self._metrics.paused.labels(self.stage, dependency).set(0)
            self._paused_for = None
            self._resume_task = None

    # FastStream's subscriber.stop() marks the subscriber as not running, and it then
    # drops (leaves unacked until the channel closes) every message the broker had
    # already sent. Cancelling the broker-side consumer alone keeps those flowing to
    # ``_settle``, which hands them back while paused.
    # (aio-pika's robust queue forgets a cancelled consumer even when the cancel RPC
    # fails, so a reconnect does not bring it back behind our back.)
    async def _cancel_consumer(self) -> None:
        queue, tag = self._subscriber._queue_obj, self._subscriber._consumer_tag
        self._subscriber._consumer_tag = None
        if queue is not None and tag is not None:
            try:
                await queue.cancel(tag)
            except Exception as error:  # noqa: BLE001 - a closed channel has no consumer left to cancel
                self._log.info("consumer cancel failed; the channel is gone", error=str(error))

    async def _restart_consumer(self) -> bool:
        """Consume again; False while the broker connection is not back (try again later)."""
        queue = self._subscriber._queue_obj
        if queue is None:
            return False
        self._paused_for = None
        try:
            self._subscriber._consumer_tag = await queue.consume(
                self._subscriber.consume,  # type: ignore[arg-type]
                no_ack=False,
                arguments=self._subscriber.consume_args,
            )
        except Exception as error:  # noqa: BLE001 - reconnecting: the next probe round tries again
            self._paused_for = "broker"
            self._log.info("cannot consume yet", error=f"{type(error).__name__}: {error}")
            return False
        return True

    @staticmethod
    async def _answers(probe: Probe) -> bool:
        try:
            return await probe()
        except Exception:  # noqa: BLE001 - a probe that fails means still down
            return False

    def _observe_queue_wait(self, published: datetime | None) -> None:
        """How long the message sat in the queue: the backlog's age as the stage meets it."""
        if published is None:
            return
        if published.tzinfo is None:
            published = published.replace(tzinfo=UTC)
        waited = (datetime.now(UTC) - published).total_seconds()
        self._queue_wait.observe(max(waited, 0.0))

    def _finish(self, outcome: str, started: float, fields: dict[str, Any]) -> None:
        elapsed = time.perf_counter() - started
        self._settled(self.stage, outcome).inc()
        self._duration.observe(elapsed)
        level = "info" if outcome not in {"dead_lettered", "retried", "requeued", "unsettled"} else "warning"
        getattr(self._log, level)("message settled", outcome=outcome, duration_ms=round(elapsed * 1000, 2), **fields)


@dataclass(frozen=True)
class Consumers:
    """Builds a service's consumers on its one broker, topology, metrics and settings."""

    broker: RabbitBroker
    topology: Topology
    metrics: ConsumerMetrics
    settings: BrokerSettings

    def __call__(
        self,
        stage: str,
        queue: RabbitQueue,
        handle: Handler,
        *,
        exchange: RabbitExchange | None = None,
        dependencies: Sequence[Dependency] = (),
    ) -> Consumer:
        return Consumer(
            stage=stage,
            broker=self.broker,
            topology=self.topology,
            metrics=self.metrics,
            settings=self.settings,
            queue=queue,
            handle=handle,
            exchange=exchange,
            dependencies=dependencies,
        )
