"""Dead letters for objects the poller found: there is no incoming message to settle.

They look like the dead letters the ``Settler`` writes (same exchange, routing key
and reason headers), so one dead-letter queue and one dashboard cover both sources.
"""

from __future__ import annotations

import json
from typing import Any

from faststream.rabbit import RabbitBroker

from aquaflow_shared.contracts import derive_id
from aquaflow_shared.delivery import ATTEMPTS_HEADER, CODE_HEADER, REASON_HEADER, ROUTING_KEY_HEADER, STAGE_HEADER
from aquaflow_shared.errors import PermanentError
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import Topology, failed


class ObjectDeadLetters:
    def __init__(self, broker: RabbitBroker, topology: Topology, metrics: ConsumerMetrics, *, stage: str) -> None:
        self._broker = broker
        self._topology = topology
        self._metrics = metrics
        self._stage = stage

    async def __call__(self, description: dict[str, Any], error: PermanentError) -> None:
        """Publish ``description`` with the reason, persistent and confirmed."""
        identity = (description.get(k) for k in ("bucket", "key", "etag", "version_id"))
        await self._broker.publish(
            json.dumps(description, ensure_ascii=False).encode(),
            exchange=self._topology.dead_letters,
            routing_key=failed(self._stage),
            persist=True,
            message_id=derive_id("object.rejected", *identity),
            content_type="application/json",
            headers={
                REASON_HEADER: error.reason,
                CODE_HEADER: error.code,
                STAGE_HEADER: self._stage,
                ATTEMPTS_HEADER: 1,
                ROUTING_KEY_HEADER: "",
            },
        )
        self._metrics.dead_letters.labels(self._stage, error.code).inc()
