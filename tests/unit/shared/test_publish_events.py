"""Publishing the several events one message causes: confirms awaited together, none left behind on failure."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from faststream.rabbit import RabbitBroker

from aquaflow_shared.broker import publish_events
from aquaflow_shared.contracts import ObjectReceived, ObjectRef
from aquaflow_shared.topology import Topology

TOPOLOGY = Topology(prefix="unit")


@dataclass
class ConfirmingBroker:
    """Confirms each publish a loop turn later, except those whose routing key it refuses."""

    refused: frozenset[str] = frozenset()
    in_flight: int = 0
    most_in_flight: int = 0
    confirmed: list[str] = field(default_factory=list)

    async def publish(self, body: bytes, **options: Any) -> None:
        routing_key = str(options["routing_key"])
        if routing_key in self.refused:
            raise ConnectionError(f"{routing_key} refused")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0)
        self.in_flight -= 1
        self.confirmed.append(routing_key)


def event(key: str) -> ObjectReceived:
    obj = ObjectRef(bucket="plankton-flowcam", key=key, etag="abc123")
    return ObjectReceived(
        message_id=obj.upload_id(), correlation_id=obj.upload_id(), tenant="lov", object=obj, source="s3-poller"
    )


async def test_the_publishes_are_in_flight_together_and_all_confirmed_on_return() -> None:
    broker = ConfirmingBroker()
    planned = [(event(f"{n}.png"), f"inference.requested.m{n}") for n in range(3)]

    await publish_events(cast(RabbitBroker, broker), TOPOLOGY, planned)

    assert sorted(broker.confirmed) == [key for _, key in planned]
    assert broker.most_in_flight == 3


async def test_a_refused_publish_is_raised_once_the_others_are_confirmed() -> None:
    broker = ConfirmingBroker(refused=frozenset({"inference.requested.m0"}))
    planned = [(event(f"{n}.png"), f"inference.requested.m{n}") for n in range(3)]

    with pytest.raises(ConnectionError, match="m0 refused"):
        await publish_events(cast(RabbitBroker, broker), TOPOLOGY, planned)

    assert sorted(broker.confirmed) == ["inference.requested.m1", "inference.requested.m2"]
    assert broker.in_flight == 0


async def test_one_event_is_published_as_publish_event_does() -> None:
    broker = ConfirmingBroker()

    await publish_events(cast(RabbitBroker, broker), TOPOLOGY, [(event("a.png"), "object.received")])

    assert broker.confirmed == ["object.received"]
