"""A copy of every dead letter, recorded against its tenant and object (``<prefix>.results.dead-letters``).

Dead letters are few, so the service takes a copy of each one the pipeline writes (the
dead-letter queue keeps its own for operators) and records those that name a tenant and
an object (``letters``): what ``GET /failures`` lists and what settles batch items that
failed before inference.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from aquaflow_results.batch_store import BatchCollections, LazyBatches
from aquaflow_results.letters import letter_record, stage_of
from aquaflow_results.ports import Store
from aquaflow_results.settings import ResultsSettings
from aquaflow_shared.consumer import Consumer, Consumers, Delivery, Dependency

STAGE = "results.dead-letters"


class DeadLetterCopies:
    def __init__(self, batches: LazyBatches) -> None:
        self._batches = batches

    async def __call__(self, delivery: Delivery) -> dict[str, Any]:
        stage = stage_of(delivery.headers, delivery.routing_key)
        if stage == STAGE:
            # This queue's own dead letters come back to it too: recording them could loop.
            return {"outcome": "own_dead_letter"}
        record = letter_record(delivery.headers, delivery.routing_key, delivery.body)
        if record is None:
            return {"outcome": "no_object", "stage": stage}
        store = await self._batches.get()
        await store.letters.record(record)
        return {"outcome": "recorded", "stage": stage, "tenant": record.tenant, "key": record.key, "code": record.code}


def install_operator_records(
    api: FastAPI, consumers: Consumers, store: Store, settings: ResultsSettings, dependencies: list[Dependency]
) -> Consumer:
    """Give the operators' endpoints their collections; the consumer of dead-letter copies."""
    lazy = LazyBatches(store, BatchCollections(results=settings.collection))
    api.state.batches = lazy
    queue = consumers.topology.work_queue(STAGE, "#")
    return consumers(
        STAGE, queue, DeadLetterCopies(lazy), exchange=consumers.topology.dead_letters, dependencies=dependencies
    )
