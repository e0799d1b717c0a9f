"""Dead letters: one shape for every stage, the reason and where it failed in the headers.

The shared ``Consumer`` (and ingest, for objects it finds by sweeping) publishes them
here, confirmed, *before* acknowledging the original, so a crash in between leads to
a second dead letter with the same ``message_id``, never to a lost message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faststream.rabbit import RabbitBroker
from faststream.rabbit.message import RabbitMessage

from aquaflow_shared.metrics import ConsumerMetrics
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
