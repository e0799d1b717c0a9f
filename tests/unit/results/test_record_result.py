"""The results use case with the in-process store: stored once, announced once."""

from __future__ import annotations

from aquaflow_results.documents import result_document, result_id, summarize
from aquaflow_results.service import record_result
from aquaflow_results.store import InMemoryResultStore
from aquaflow_shared.contracts import ResultAvailable
from tests.support.messages import completed_classification, completed_regions


class RecordingAnnouncer:
    def __init__(self, fail_times: int = 0) -> None:
        self.events: list[ResultAvailable] = []
        self.fail_times = fail_times

    async def __call__(self, event: ResultAvailable) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("broker gone")
        self.events.append(event)


async def test_a_redelivered_event_is_stored_and_announced_once() -> None:
    store, announce = InMemoryResultStore(), RecordingAnnouncer()
    completed = completed_classification()
    outcomes = [await record_result(completed, store, announce) for _ in range(3)]
    assert outcomes == ["stored", "duplicate", "duplicate"]
    assert len(await store.find({"key": completed.object.key})) == 1
    assert [e.result_id for e in announce.events] == [result_id(completed)]
    assert announce.events[0].summary == {"label": "copepod", "score": 0.91}


async def test_a_crash_before_announcing_is_announced_on_redelivery() -> None:
    store, announce = InMemoryResultStore(), RecordingAnnouncer(fail_times=1)
    completed = completed_classification()
    try:
        await record_result(completed, store, announce)
    except ConnectionError:
        pass
    assert await record_result(completed, store, announce) == "announced"
    assert len(announce.events) == 1
    assert len(await store.find({})) == 1


async def test_another_object_version_is_another_result() -> None:
    store, announce = InMemoryResultStore(), RecordingAnnouncer()
    await record_result(completed_classification(etag="v1"), store, announce)
    await record_result(completed_classification(etag="v2", label="diatom_chain"), store, announce)
    assert len(await store.find({"bucket": "plankton-flowcam"})) == 2
    assert len({e.message_id for e in announce.events}) == 2


def test_summary_counts_regions_and_labels() -> None:
    summary = summarize(completed_regions())
    assert summary == {"regions": 3, "top_region_label": "copepod", "count.copepod": 2, "count.diatom_chain": 1}


def test_summary_carries_image_measures() -> None:
    completed = completed_regions().model_copy(update={"measures": {"litter_fraction": 0.123456}})
    assert summarize(completed)["litter_fraction"] == 0.1235


def test_document_keeps_ids_and_unique_fields() -> None:
    completed = completed_regions()
    doc = result_document(completed, completed.created_at)
    assert doc["_id"] == result_id(completed)
    assert doc["correlation_id"] == completed.correlation_id
    assert doc["object"]["key"] == "scan 7.png"
    assert doc["inference_message_id"] == completed.message_id
    assert len(doc["regions"]) == 3
