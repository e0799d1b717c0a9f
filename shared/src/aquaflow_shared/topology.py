"""The broker topology, declared in this one place.

One durable topic exchange carries every event. Each stage consumes from its own
durable quorum queue, bound by routing key, with a delivery limit and a
dead-letter exchange. Dead letters land in one quorum queue with the failing
stage in their routing key (``<stage>.failed``) and the reason in their headers.

Nothing published can vanish: the events exchange names an alternate exchange,
so an event no queue is bound for lands in ``<prefix>.unroutable``, from where it
is dead-lettered with the reason ``unroutable`` and its routing key.

A stage retries a message-specific failure without holding a consumer slot: the
message waits in ``<prefix>.<stage>.retry`` for its delay (per-message TTL) and
is then dead-lettered by the broker straight back into the stage's own queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

OBJECT_RECEIVED = "object.received"
INFERENCE_COMPLETED = "inference.completed"
SAMPLE_MANIFEST = "sample.manifest"
# MinIO's AMQP target publishes bucket notifications with this routing key.
S3_NOTIFICATION = "s3.notification"


def inference_requested(model: str) -> str:
    return f"inference.requested.{model}"


def result_available(profile: str, tenant: str) -> str:
    return f"result.{profile}.{tenant}"


def is_announcement(routing_key: str) -> bool:
    """Events for downstream subscribers, which may have none; work events always have a queue."""
    return routing_key.startswith("result.")


def failed(stage: str) -> str:
    return f"{stage}.failed"


# The stage that turns unroutable events into dead letters.
UNROUTABLE_STAGE = "unroutable"


@dataclass(frozen=True)
class Topology:
    """Names and arguments of every exchange and queue under one prefix.

    Each exchange is built once (``cached_property``): every publish names one, and
    building a ``RabbitExchange`` is not free.
    """

    prefix: str = "aquaflow"
    delivery_limit: int = 10

    @cached_property
    def events(self) -> RabbitExchange:
        return RabbitExchange(
            f"{self.prefix}.events",
            type=ExchangeType.TOPIC,
            durable=True,
            arguments={"alternate-exchange": self.unroutable.name},
        )

    @cached_property
    def unroutable(self) -> RabbitExchange:
        """Takes every event that no queue is bound for (the events exchange's alternate)."""
        return RabbitExchange(f"{self.prefix}.unroutable", type=ExchangeType.FANOUT, durable=True)

    @property
    def unroutable_queue(self) -> RabbitQueue:
        return self.work_queue(UNROUTABLE_STAGE, "#")

    @cached_property
    def notifications(self) -> RabbitExchange:
        """Where S3 servers publish bucket notifications (MinIO's AMQP target).

        Its own exchange, because MinIO declares the exchange it publishes to without
        arguments, which RabbitMQ would refuse on the events exchange (it carries an
        alternate exchange).
        """
        return RabbitExchange(f"{self.prefix}.notifications", type=ExchangeType.TOPIC, durable=True)

    @cached_property
    def dead_letters(self) -> RabbitExchange:
        return RabbitExchange(f"{self.prefix}.dead", type=ExchangeType.TOPIC, durable=True)

    @property
    def dead_letter_queue(self) -> RabbitQueue:
        return RabbitQueue(
            f"{self.prefix}.dead-letter",
            durable=True,
            queue_type=QueueType.QUORUM,
            routing_key="#",
        )

    def work_queue_name(self, stage: str) -> str:
        return f"{self.prefix}.{stage}"

    def work_queue(self, stage: str, routing_key: str) -> RabbitQueue:
        """The durable quorum queue a stage consumes, bound to ``routing_key``."""
        return RabbitQueue(
            self.work_queue_name(stage),
            durable=True,
            queue_type=QueueType.QUORUM,
            routing_key=routing_key,
            arguments={
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-exchange": self.dead_letters.name,
                "x-dead-letter-routing-key": failed(stage),
            },
        )

    def retry_queue(self, stage: str) -> RabbitQueue:
        """Where a stage's retried messages wait out their delay before going back to its queue.

        A classic queue: per-message TTL expires only at the head, so a message may wait
        longer than its delay behind a longer one, never shorter (bounded by the
        largest backoff). Expired messages are dead-lettered through the default
        exchange to the stage's queue alone, not to every queue bound to their key.
        """
        return RabbitQueue(
            f"{self.work_queue_name(stage)}.retry",
            durable=True,
            queue_type=QueueType.CLASSIC,
            arguments={
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.work_queue_name(stage),
            },
        )

    def ingest_queue(self) -> RabbitQueue:
        return self.work_queue("ingest", S3_NOTIFICATION)

    def router_queue(self) -> RabbitQueue:
        return self.work_queue("router", OBJECT_RECEIVED)

    def inference_queue(self, model: str) -> RabbitQueue:
        return self.work_queue(f"inference.{model}", inference_requested(model))

    def results_queue(self) -> RabbitQueue:
        return self.work_queue("results", INFERENCE_COMPLETED)

    def inference_failures_queue(self) -> RabbitQueue:
        """Copies of inference dead letters, bound on the dead-letter exchange: how results counts failed uploads.

        The dead-letter queue keeps its own copy for operators; this one is consumed.
        """
        return self.work_queue("results.failures", "inference.#")

    def sample_manifest_queue(self) -> RabbitQueue:
        return self.work_queue("results.samples", SAMPLE_MANIFEST)
