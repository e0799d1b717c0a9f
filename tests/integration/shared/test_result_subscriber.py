"""The documented downstream subscriber acts once on a result event delivered twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from aquaflow_shared.contracts import ObjectRef, ResultAvailable
from aquaflow_shared.topology import Topology
from examples.result_subscriber import ResultLedger, subscribe
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.integration


class CountingLedger(ResultLedger):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.outcomes: list[bool] = []

    def apply(self, message_id: str, event: dict[str, object]) -> bool:
        applied = super().apply(message_id, event)
        self.outcomes.append(applied)
        return applied


async def test_a_result_event_published_twice_is_applied_once(rabbit: RabbitAdmin, tmp_path: Path) -> None:
    topology = Topology(prefix=rabbit.prefix)
    obj = ObjectRef(bucket="plankton-flowcam", key="run-1/a.png", etag="e1")
    event = ResultAvailable(
        message_id="result-available-1",
        correlation_id=obj.upload_id(),
        tenant="lov",
        result_id="r1",
        object=obj,
        profile="flowcam",
        model="plankton_classifier",
        model_version="1",
        sample_id="run-1",
    )
    ledger = CountingLedger(tmp_path / "ledger.sqlite")
    await rabbit.tap(topology.events.name, "nothing")  # declares the events exchange as the services do
    task = asyncio.create_task(
        subscribe(rabbit.url, topology.events.name, "result.#", f"{rabbit.prefix}.downstream", ledger)
    )
    try:
        queue = f"{rabbit.prefix}.downstream"
        await eventually(lambda: _exists(rabbit, queue), until=bool)
        for _ in range(2):
            await rabbit.publish(
                topology.events.name,
                "result.flowcam.lov",
                event.model_dump_json().encode(),
                message_id=event.message_id,
            )
        outcomes = await eventually(lambda: asyncio.sleep(0, ledger.outcomes), until=lambda o: len(o) == 2)
        applied = ledger.count()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        channel = await rabbit.channel()
        await channel.queue_delete(f"{rabbit.prefix}.downstream")
        ledger.close()
    assert outcomes == [True, False]
    assert applied == 1
    assert json.loads(event.model_dump_json())["sample_id"] == "run-1"


async def _exists(rabbit: RabbitAdmin, queue: str) -> bool:
    channel = await rabbit.channel()
    try:
        await channel.declare_queue(queue, passive=True)
    except Exception:  # noqa: BLE001 - not declared yet
        return False
    finally:
        with contextlib.suppress(Exception):
            await channel.close()
    return True
