"""The results service on the real broker: exactly one stored result and one event per upload."""

from __future__ import annotations

import re

import httpx
import pytest

from aquaflow_results.app import create_app
from aquaflow_results.settings import ResultsSettings
from aquaflow_results.store import ResultStore
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings
from aquaflow_shared.topology import INFERENCE_COMPLETED, Topology
from tests.support.messages import completed_classification, completed_regions
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.integration


async def test_redelivered_results_are_stored_and_announced_once(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin, result_store: ResultStore
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    app = create_app(ResultsSettings(broker=broker_settings, http=ObservabilitySettings(port=0)), store=result_store)
    announced = await rabbit.tap(topology.events.name, "result.#")
    flowcam, zooscan = completed_classification(), completed_regions()
    async with app:
        for event in (flowcam, flowcam, zooscan, flowcam):
            await rabbit.publish(
                topology.events.name, INFERENCE_COMPLETED, event.model_dump_json().encode(), message_id=event.message_id
            )
        await rabbit.publish(topology.events.name, INFERENCE_COMPLETED, b'{"schema_version": 1, "tenant": "x"}')
        dead = await eventually(
            lambda: rabbit.queue_messages(topology.dead_letter_queue.name), until=lambda m: len(m) >= 1
        )
        events = await eventually(announced.drain, until=lambda e: len(e) >= 2)
        stored = await eventually(lambda: result_store.find({"tenant": "lov"}), until=lambda r: len(r) >= 2)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://results") as client:
            by_key = (await client.get("/results", params={"bucket": "plankton-zooscan", "key": "scan 7.png"})).json()
            bad = await client.get("/results", params={"colour": "red"})
            health = await client.get("/health")

            async def settled() -> dict[str, float]:
                text = (await client.get("/metrics")).text
                found = re.findall(r'aquaflow_messages_total\{outcome="(\w+)",stage="results"\} (\S+)', text)
                return {outcome: float(n) for outcome, n in found}

            # Every delivery is settled (2 stored, 2 duplicates, 1 dead letter) before counting events.
            outcomes = await eventually(settled, until=lambda o: sum(o.values()) >= 5)

    assert sorted(m.routing_key or "" for m in await announced.drain()) == ["result.flowcam.lov", "result.zooscan.lov"]
    assert len(events) == 2
    assert outcomes == {"stored": 2.0, "duplicate": 2.0, "dead_lettered": 1.0}
    assert len(stored) == 2
    assert [r["summary"]["regions"] for r in by_key] == [3]
    assert bad.status_code == 400
    assert health.status_code == 200
    assert health.json()["store"] is True
    assert dead[0].headers[CODE_HEADER] == "malformed"
    assert "message_id" in str(dead[0].headers[REASON_HEADER])
