"""What a result costs MongoDB: the commands it sends, shared by the messages in flight, and nothing lost by sharing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson.errors import BSONError
from pymongo import AsyncMongoClient
from pymongo.errors import WriteError
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from aquaflow_results.documents import result_document, result_id
from aquaflow_results.mongo import MongoStore
from aquaflow_results.mongo_result_writes import MAX_COMMAND_BYTES, MAX_STATEMENTS, ResultWrites
from aquaflow_results.ports import SaveOutcome
from aquaflow_results.samples import figures_basis
from aquaflow_results.service import ResultRecorder, record_result
from aquaflow_results.thresholds import ConfidenceThresholds
from aquaflow_shared.contracts import ResultAvailable
from tests.support.polling import eventually
from tests.unit.results.factories import particle

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
THRESHOLDS = ConfidenceThresholds()
WRITES = {"insert", "update", "delete", "findAndModify"}


class Commands(CommandListener):
    """The commands sent while ``counting``, by name, and how many statements each write carried."""

    def __init__(self) -> None:
        self.counting = False
        self.sent: Counter[str] = Counter()
        self.statements: list[int] = []

    def started(self, event: CommandStartedEvent) -> None:
        if not self.counting:
            return
        self.sent[event.command_name] += 1
        if event.command_name == "update":
            self.statements.append(len(event.command["updates"]))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
async def watched(mongodb_url: str, database_name: str, commands: Commands) -> AsyncIterator[MongoStore]:
    opened = MongoStore(mongodb_url, database_name, timeout_seconds=10, event_listeners=[commands])
    await opened.open()
    yield opened
    await opened.close()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    await client.drop_database(database_name)
    await client.close()


def recorder_of(store: MongoStore, announced: list[ResultAvailable]) -> ResultRecorder:
    async def announce(event: ResultAvailable) -> None:
        announced.append(event)

    return ResultRecorder(store.results, store.samples, announce)


async def published(store: MongoStore, *keys: str) -> list[bool]:
    found = [await store.results.get("lov", result_id(particle(key))) for key in keys]
    return [doc is not None and doc["event_published_at"] is not None for doc in found]


async def test_a_result_into_a_known_sample_costs_a_write_per_collection_and_two_reads(
    watched: MongoStore, commands: Commands
) -> None:
    announced: list[ResultAvailable] = []
    recorder = recorder_of(watched, announced)
    assert await record_result(particle("run1/cell-001.png"), recorder) == "stored"

    commands.counting = True
    assert await record_result(particle("run1/cell-002.png"), recorder) == "stored"
    commands.counting = False

    # The result's upsert, carrying the previous result's mark; the sample's results and
    # failures; its figures. The sample itself is not read again, nor its result.
    assert commands.sent == {"update": 1, "find": 2, "findAndModify": 1}
    assert commands.statements == [2]
    assert await published(watched, "run1/cell-001.png", "run1/cell-002.png") == [True, False]
    await watched.results.close()  # as at shutdown: the last mark is written
    assert await published(watched, "run1/cell-001.png", "run1/cell-002.png") == [True, True]
    sample = await watched.samples.get("lov", "run1")
    assert sample is not None
    assert (sample["processed"], sample["results_stored"]) == (2, 2)
    assert len(announced) == 2


async def test_the_results_of_the_messages_in_flight_share_their_commands(
    watched: MongoStore, commands: Commands
) -> None:
    announced: list[ResultAvailable] = []
    recorder = recorder_of(watched, announced)
    cells = [particle(f"run1/cell-{i:03d}.png") for i in range(8)]

    commands.counting = True
    outcomes = await asyncio.gather(*(record_result(cell, recorder) for cell in cells))
    commands.counting = False

    assert outcomes == ["stored"] * 8
    assert commands.sent["update"] <= 2, commands.sent
    assert sum(commands.statements) == 8, "one upsert per result, the marks not sent yet"
    assert commands.sent["findAndModify"] <= 3, "the sample's creation and a refresh or two for eight results"
    sample = await watched.samples.get("lov", "run1")
    assert sample is not None
    assert (sample["processed"], sample["counts"]) == (8, {"copepod": 8})
    assert len({event.message_id for event in announced}) == 8


async def test_a_redelivery_finds_the_mark_of_its_first_delivery_before_it_is_written_alone(
    watched: MongoStore,
) -> None:
    announced: list[ResultAvailable] = []
    recorder = recorder_of(watched, announced)
    cell = particle("run1/cell-001.png")
    assert await record_result(cell, recorder) == "stored"
    assert await published(watched, "run1/cell-001.png") == [False]
    assert await record_result(cell, recorder) == "duplicate"
    assert len(announced) == 1


async def test_a_mark_no_write_carries_is_written_within_the_linger(watched: MongoStore) -> None:
    document = result_document(particle(), T0, THRESHOLDS)
    await watched.results.save(document)
    watched.results.mark_published_soon(document["_id"], T0)
    marked = await eventually(lambda: published(watched, "run1/cell-001.png"), until=lambda p: p == [True], timeout=10)
    assert marked == [True]


async def test_copies_of_one_result_in_one_command_store_it_once(watched: MongoStore, commands: Commands) -> None:
    documents = [result_document(particle(), T0 + timedelta(seconds=i), THRESHOLDS) for i in range(4)]
    commands.counting = True
    outcomes = await asyncio.gather(*(watched.results.save(d) for d in documents))
    commands.counting = False
    assert [o.created for o in outcomes] == [True, False, False, False]
    assert {o.stored_at for o in outcomes} == {T0}
    assert not any(o.event_published for o in outcomes)
    assert commands.statements == [1]


async def test_the_results_in_flight_go_in_commands_within_their_bounds(
    watched: MongoStore, commands: Commands
) -> None:
    small = [result_document(particle(f"run1/cell-{i:03d}.png"), T0, THRESHOLDS) for i in range(MAX_STATEMENTS + 8)]
    # Scan-sized results (3/8 of a command's bytes each): two fit in a command, not three.
    large = [
        {**result_document(particle(f"run2/scan-{i}.png"), T0, THRESHOLDS), "route": "x" * (MAX_COMMAND_BYTES * 3 // 8)}
        for i in range(3)
    ]
    commands.counting = True
    outcomes = await asyncio.gather(*(watched.results.save(d) for d in small + large))
    commands.counting = False
    assert all(o.created for o in outcomes)
    # The statements in order: 32 small; 8 small and two large; the third large.
    assert commands.statements == [MAX_STATEMENTS, 10, 1]
    assert await watched.database["results"].count_documents({}) == len(small) + len(large)


# Refused by the server (one statement of the command fails), or too large to send at all.
@pytest.mark.parametrize(("megabytes", "refusal"), [(17, WriteError), (50, BSONError)])
async def test_a_document_mongodb_cannot_take_fails_only_its_own_save(
    mongodb_url: str, database_name: str, megabytes: int, refusal: type[Exception]
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    writes = ResultWrites(client[database_name]["results"])
    good = [result_document(particle(f"run1/cell-00{i}.png"), T0, THRESHOLDS) for i in (1, 3)]
    huge = {**result_document(particle("run1/cell-002.png"), T0, THRESHOLDS), "route": "x" * (megabytes << 20)}
    try:
        outcomes = await asyncio.gather(*(writes.save(d) for d in (good[0], huge, good[1])), return_exceptions=True)
        # The others are stored and still to be announced (sent again on their own when the command
        # could not be sent: one sent before the failure is then found, not created, as on a redelivery).
        assert [isinstance(o, SaveOutcome) and not o.event_published for o in outcomes] == [True, False, True]
        assert isinstance(outcomes[1], refusal)
        assert await client[database_name]["results"].count_documents({}) == 2
    finally:
        await writes.close()
        await client.drop_database(database_name)
        await client.close()


async def test_figures_computed_from_a_replaced_manifest_are_refused(watched: MongoStore) -> None:
    samples = watched.samples
    first = await samples.set_manifest("lov", "s1", {"station": "A"}, 4, source="s3://b/sample.json")
    basis = figures_basis(first)
    assert await samples.set_aggregates("lov", "s1", {"processed": 1, "results_stored": 1}, basis) is not None
    await samples.set_manifest("lov", "s1", {"station": "B"}, 5, source="s3://b/sample.json")
    assert await samples.set_aggregates("lov", "s1", {"processed": 2, "results_stored": 2}, basis) is None


async def test_a_manifest_another_replica_stored_is_read_before_the_figures_are_written(watched: MongoStore) -> None:
    announced: list[ResultAvailable] = []
    recorder = recorder_of(watched, announced)
    await record_result(particle("run1/cell-001.png"), recorder)
    # Written as another replica's manifest consumer would: this process is not told.
    await watched.samples.set_manifest("lov", "run1", {"volume_ml": 2.0}, 2, source="s3://b/run1/sample.json")
    await record_result(particle("run1/cell-002.png"), recorder)
    sample = await watched.samples.get("lov", "run1")
    assert sample is not None
    assert sample["complete"] is True
    assert sample["abundance"]["by_class"] == {"copepod": 1.0}


async def test_metadata_whose_keys_read_as_operators_is_matched_as_data(watched: MongoStore) -> None:
    samples = watched.samples
    first = await samples.set_manifest("lov", "s1", {"$ne": "B"}, 4, source="s3://b/sample.json")
    basis = figures_basis(first)
    assert await samples.set_aggregates("lov", "s1", {"processed": 1, "results_stored": 1}, basis) is not None
    # As a filter, ``{"metadata": {"$ne": "B"}}`` would match the replaced metadata too.
    await samples.set_manifest("lov", "s1", {"station": "B"}, 4, source="s3://b/sample.json")
    assert await samples.set_aggregates("lov", "s1", {"processed": 2, "results_stored": 2}, basis) is None
    # Exactly the stored metadata: neither a part of it nor more.
    stored = await samples.set_manifest("lov", "s1", {"station": "B", "$gt": 1}, 4, source="s3://b/sample.json")
    figures = {"processed": 3, "results_stored": 3}
    for other in ({"station": "B"}, {"station": "B", "$gt": 1, "depth": 5}):
        assert await samples.set_aggregates("lov", "s1", figures, {**figures_basis(stored), "metadata": other}) is None
    assert await samples.set_aggregates("lov", "s1", figures, figures_basis(stored)) is not None
