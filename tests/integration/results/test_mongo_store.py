"""The MongoDB store on a real server: the unique key, the duplicate race, pagination, every query."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from aquaflow_results.documents import result_document
from aquaflow_results.mongo import MongoStore
from aquaflow_results.ports import ResultQuery
from aquaflow_results.thresholds import ConfidenceThresholds
from aquaflow_shared.errors import DependencyUnavailable
from tests.unit.results.factories import frame, particle, scan

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
THRESHOLDS = ConfidenceThresholds()


async def test_saving_twice_keeps_the_first_document(store: MongoStore) -> None:
    first = await store.results.save(result_document(particle(), T0, THRESHOLDS))
    again = await store.results.save(result_document(particle(), T0 + timedelta(seconds=5), THRESHOLDS))
    assert (first.created, again.created) == (True, False)
    assert again.stored_at == T0
    page = await store.results.find(ResultQuery(tenant="lov"))
    assert len(page.items) == 1


async def test_two_concurrent_deliveries_store_one_document(store: MongoStore) -> None:
    documents = [result_document(particle(), T0 + timedelta(milliseconds=i), THRESHOLDS) for i in range(6)]
    outcomes = await asyncio.gather(*(store.results.save(d) for d in documents))
    assert sum(o.created for o in outcomes) == 1
    assert len({o.stored_at for o in outcomes}) == 1
    assert len((await store.results.find(ResultQuery(tenant="lov"))).items) == 1


async def test_published_flag_is_reported_on_the_next_save(store: MongoStore) -> None:
    document = result_document(particle(), T0, THRESHOLDS)
    await store.results.save(document)
    await store.results.mark_published(document["_id"], T0)
    assert (await store.results.save(document)).event_published


async def test_cursor_pagination_visits_every_result_once_in_order(store: MongoStore) -> None:
    # Pairs of results share a stored_at, so the _id breaks ties.
    for i in range(7):
        doc = result_document(particle(f"run1/cell-{i:03d}.png"), T0 + timedelta(seconds=i // 2), THRESHOLDS)
        await store.results.save(doc)
    seen: list[str] = []
    query = ResultQuery(tenant="lov", limit=3)
    while True:
        page = await store.results.find(query)
        seen += [d["object"]["key"] for d in page.items]
        if page.next is None:
            break
        query = ResultQuery(tenant="lov", limit=3, after=page.next)
    assert sorted(seen) == [f"run1/cell-{i:03d}.png" for i in range(7)]
    assert len(seen) == 7


async def test_every_filter(store: MongoStore) -> None:
    docs = [
        result_document(particle("run1/a.png"), T0, THRESHOLDS),
        result_document(
            particle("run2/b.png", label="detritus", sample_id="run2"), T0 + timedelta(hours=1), THRESHOLDS
        ),
        result_document(scan(), T0 + timedelta(hours=2), THRESHOLDS),
        result_document(frame(), T0 + timedelta(hours=3), THRESHOLDS),
        result_document(particle("run1/a.png", tenant="obsea"), T0, THRESHOLDS),
    ]
    for doc in docs:
        await store.results.save(doc)

    async def keys(**fields: object) -> list[str]:
        page = await store.results.find(ResultQuery(tenant="lov", **fields))  # type: ignore[arg-type]
        return [d["object"]["key"] for d in page.items]

    assert await keys() == ["run1/a.png", "run2/b.png", "scan7.png", "cam/frame1.jpg"]
    assert await keys(equals={"bucket": "plankton-zooscan"}) == ["scan7.png"]
    assert await keys(equals={"key": "run2/b.png"}) == ["run2/b.png"]
    assert await keys(key_prefix="run") == ["run1/a.png", "run2/b.png"]
    assert await keys(key_prefix="run1/a.png") == ["run1/a.png"]
    assert await keys(equals={"profile": "obsea"}) == ["cam/frame1.jpg"]
    assert await keys(equals={"model": "fish_detector"}) == ["cam/frame1.jpg"]
    assert await keys(equals={"sample_id": "run2"}) == ["run2/b.png"]
    assert await keys(label="detritus") == ["run2/b.png"]
    assert await keys(label="copepod") == ["run1/a.png", "scan7.png"]
    assert await keys(equals={"correlation_id": docs[2]["correlation_id"]}) == ["scan7.png"]
    assert await keys(stored_after=T0, stored_before=T0 + timedelta(hours=3)) == ["run2/b.png", "scan7.png"]
    assert await store.results.get("lov", docs[0]["_id"]) is not None
    assert await store.results.get("obsea", docs[0]["_id"]) is None
    assert [d["object"]["key"] for d in await store.results.of_sample("lov", "run1")] == ["run1/a.png"]


async def test_tally_reads_labels_and_sizes(store: MongoStore) -> None:
    await store.results.save(result_document(scan(), T0, THRESHOLDS))
    await store.results.save(result_document(scan("scan8.png"), T0, THRESHOLDS))
    tally = await store.results.tally("lov", "scan7")
    assert len(tally.results) == 2
    rows = [row for result in tally.results for row in result.rows]
    assert sorted((r.label or "-", r.esd_px) for r in rows)[:2] == [("-", 20.0), ("-", 20.0)]
    assert len(rows) == 6
    assert {(r.model, r.version, r.primary, r.upload[1]) for r in tally.results} == {
        ("plankton_classifier", "3", True, "scan7.png"),
        ("plankton_classifier", "3", True, "scan8.png"),
    }


async def test_two_pinned_versions_of_a_model_are_two_results_of_one_object(store: MongoStore) -> None:
    def pinned(version: str, primary: bool) -> dict[str, object]:
        completed = particle().model_copy(
            update={"requested_version": version, "model_version": version, "primary": primary}
        )
        return result_document(completed, T0, THRESHOLDS)

    outcomes = [await store.results.save(d) for d in (pinned("2", True), pinned("3", False), pinned("3", False))]
    assert [o.created for o in outcomes] == [True, True, False]
    assert (await store.results.save(result_document(particle(), T0, THRESHOLDS))).created, "unpinned: a third"
    # The filter reads the version that ran: the unpinned request ran the worker's default, "3".
    found = await store.results.find(ResultQuery(tenant="lov", equals={"model_version": "3"}))
    assert sorted((d["requested_version"] or "-", d["primary"]) for d in found.items) == [("-", True), ("3", False)]
    tally = await store.results.tally("lov", "run1")
    assert sorted((r.version, r.primary) for r in tally.results) == [("2", True), ("3", False), ("3", True)]


async def test_the_unique_index_of_one_result_per_model_gives_way_to_the_versioned_one(
    mongodb_url: str, database_name: str
) -> None:
    from pymongo import ASCENDING, AsyncMongoClient

    from aquaflow_results.mongo import LEGACY_UNIQUE_INDEX, UNIQUE_INDEX

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_url)
    legacy = ["object.bucket", "object.key", "object.etag", "object.version_id", "model"]
    await client[database_name]["results"].create_index(
        [(f, ASCENDING) for f in legacy], unique=True, name=LEGACY_UNIQUE_INDEX
    )
    await client.close()
    store = MongoStore(mongodb_url, database_name, timeout_seconds=10)
    await store.open()
    try:
        indexes = await store.database["results"].index_information()
        assert UNIQUE_INDEX in indexes
        assert LEGACY_UNIQUE_INDEX not in indexes
    finally:
        await store.close()


async def test_samples_keep_manifest_over_upload_metadata_and_never_touch_push(store: MongoStore) -> None:
    samples = store.samples
    await samples.ensure("lov", "s1", {"station": "from upload"})
    await samples.ensure("lov", "s1", {"station": "ignored: exists"})
    await samples.collection.update_one({"_id": "lov:s1"}, {"$set": {"push": {"state": "queued"}}})
    sample = await samples.set_manifest("lov", "s1", {"station": "B"}, 4, source="s3://b/sample.json")
    assert sample["metadata"] == {"station": "B"}
    assert sample["expected_objects"] == 4
    newer = {"processed": 4, "results_stored": 8, "complete": True, "counts": {"a": 4}}
    updated = await samples.set_aggregates("lov", "s1", newer)
    assert updated is not None
    assert updated["completed_at"] is not None
    assert updated["push"] == {"state": "queued"}
    # An older snapshot (fewer results stored) cannot overwrite a newer one.
    assert await samples.set_aggregates("lov", "s1", {"processed": 4, "results_stored": 7, "complete": False}) is None
    closed = await samples.close("lov", "s1", T0)
    again = await samples.close("lov", "s1", T0 + timedelta(days=1))
    assert closed is not None
    assert again is not None
    assert again["closed_at"] == T0
    assert await samples.close("obsea", "s1", T0) is None
    assert await samples.get("obsea", "s1") is None


async def test_two_concurrent_first_results_create_one_sample(store: MongoStore) -> None:
    await asyncio.gather(*(store.samples.ensure("lov", "race", {}) for _ in range(5)))
    page = await store.samples.find("lov", None, 10)
    assert [s["_id"] for s in page.items] == ["lov:race"]


async def test_samples_page_by_id(store: MongoStore) -> None:
    for name in ["c", "a", "b"]:
        await store.samples.ensure("lov", name, {})
    await store.samples.ensure("obsea", "z", {})
    first = await store.samples.find("lov", None, 2)
    assert [s["sample_id"] for s in first.items] == ["a", "b"]
    rest = await store.samples.find("lov", first.next, 2)
    assert [s["sample_id"] for s in rest.items] == ["c"]
    assert rest.next is None


async def test_an_unreachable_server_is_a_dependency_outage_until_it_answers(mongodb_url: str) -> None:
    from aquaflow_devstack.ports import free_port
    from aquaflow_devstack.proxy import CuttableProxy

    host, port = mongodb_url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    proxy = CuttableProxy(host, int(port), listen_port=free_port()).start()
    proxy.cut()
    down = MongoStore(f"mongodb://{proxy.address}/", f"down-{free_port()}", timeout_seconds=0.3)
    try:
        await down.open()  # starts anyway: the consumers pause until MongoDB answers
        with pytest.raises(DependencyUnavailable) as raised:
            await down.results.save({"_id": "x"})
        assert raised.value.dependency == "mongodb"
        assert not await down.ping()
        proxy.restore()
        assert await down.ping()  # and the probe creates the indexes on the way
        assert (await down.results.save(result_document(particle(), T0, THRESHOLDS))).created
    finally:
        await down.close()
        proxy.stop()


async def test_a_sample_written_before_results_were_counted_per_model_takes_newer_figures(store: MongoStore) -> None:
    await store.samples.ensure("lov", "old", {})
    # As samples were stored before: `processed` counted every result, no `results_stored`.
    await store.samples.collection.update_one(
        {"_id": "lov:old"}, {"$set": {"processed": 5}, "$unset": {"results_stored": ""}}
    )
    assert await store.samples.set_aggregates("lov", "old", {"processed": 4, "results_stored": 4}) is None
    updated = await store.samples.set_aggregates("lov", "old", {"processed": 5, "results_stored": 6})
    assert updated is not None
    assert updated["results_stored"] == 6
