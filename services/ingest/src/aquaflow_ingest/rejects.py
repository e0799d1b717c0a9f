"""Dead letters for what has no incoming broker message to settle: swept objects, webhook bodies.

They look like the dead letters the shared ``Consumer`` writes (same exchange, routing key
and reason headers), so one dead-letter queue and one dashboard cover every source.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from faststream.rabbit import RabbitBroker

from aquaflow_shared.contracts import derive_id
from aquaflow_shared.delivery import DeadLetter, publish_dead_letter
from aquaflow_shared.errors import PermanentError
from aquaflow_shared.metrics import ConsumerMetrics
from aquaflow_shared.topology import Topology


class ObjectDeadLetters:
    def __init__(self, broker: RabbitBroker, topology: Topology, metrics: ConsumerMetrics, *, stage: str) -> None:
        self._broker = broker
        self._topology = topology
        self._metrics = metrics
        self._stage = stage

    async def __call__(self, description: dict[str, Any], error: PermanentError) -> None:
        """Publish ``description`` with the reason, persistent and confirmed."""
        identity = (description.get(k) for k in ("bucket", "key", "etag", "version_id"))
        await self._publish(
            json.dumps(description, ensure_ascii=False).encode(), error, derive_id("object.rejected", *identity), ""
        )

    async def body(self, body: bytes, error: PermanentError, *, origin: str) -> None:
        """Publish a received body as it came (it may not even be UTF-8), with the reason."""
        message_id = derive_id("body.rejected", origin, hashlib.sha256(body).hexdigest())
        await self._publish(body, error, message_id, origin)

    async def _publish(self, body: bytes, error: PermanentError, message_id: str, origin: str) -> None:
        letter = DeadLetter(
            body=body,
            stage=self._stage,
            reason=error.reason,
            code=error.code,
            attempt=1,
            message_id=message_id,
            original_routing_key=origin,
        )
        await publish_dead_letter(self._broker, self._topology, self._metrics, letter)
