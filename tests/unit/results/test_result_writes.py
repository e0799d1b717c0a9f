"""The shared result-write commands on an in-memory collection: bounded commands, and every caller answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import bson
import pytest
from bson.codec_options import CodecOptions
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect

from aquaflow_results.mongo_result_writes import MAX_COMMAND_BYTES, MAX_STATEMENTS, ResultWrites
from aquaflow_results.ports import SaveOutcome
from aquaflow_shared.errors import DependencyUnavailable

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MIB = 1 << 20
ANSWERED_WITHIN_SECONDS = 5
AS_READ: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


def result_id(statement: UpdateOne) -> str:
    return str(statement._filter["_id"])


def as_sent(statement: UpdateOne) -> dict[str, Any]:
    """A statement's update as MongoDB reads it (an upsert's is sent as BSON already)."""
    return bson.decode(bson.encode(cast("Mapping[str, Any]", statement._doc)), AS_READ)


class Results:
    """The two calls ``ResultWrites`` makes of the result collection, kept in memory.

    ``before_command`` runs before each command is applied, told its number (1, 2, …):
    raising there fails that command as MongoDB or the loop would.
    """

    def __init__(self, before_command: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.commands: list[list[UpdateOne]] = []
        self._before_command = before_command

    async def bulk_write(self, statements: list[UpdateOne], ordered: bool) -> SimpleNamespace:
        self.commands.append(statements)
        if self._before_command is not None:
            await self._before_command(len(self.commands))
        upserted: dict[int, str] = {}
        for index, statement in enumerate(statements):
            rid, update = result_id(statement), as_sent(statement)
            if "$set" in update:
                if rid in self.documents:
                    self.documents[rid].update(update["$set"])
            elif rid not in self.documents:
                self.documents[rid] = {"_id": rid, **update["$setOnInsert"]}
                upserted[index] = rid
        return SimpleNamespace(upserted_ids=upserted)

    def find(self, query: dict[str, Any], projection: dict[str, int]) -> AsyncIterator[dict[str, Any]]:
        async def found() -> AsyncIterator[dict[str, Any]]:
            for rid in query["_id"]["$in"]:
                if rid in self.documents:
                    document = self.documents[rid]
                    yield {"_id": rid, **{k: document[k] for k in projection if k in document}}

        return found()


def writes_to(results: Results) -> ResultWrites:
    return ResultWrites(cast("AsyncCollection[dict[str, Any]]", results))


def result(n: int, payload_bytes: int = 0) -> dict[str, Any]:
    return {"_id": f"r{n:03d}", "stored_at": T0, "event_published_at": None, "route": "x" * payload_bytes}


async def save_all(writes: ResultWrites, documents: list[dict[str, Any]]) -> list[SaveOutcome | BaseException]:
    # A caller left unanswered would wait forever: the deadline makes that a failure.
    async with asyncio.timeout(ANSWERED_WITHIN_SECONDS):
        return await asyncio.gather(*(writes.save(d) for d in documents), return_exceptions=True)


async def test_the_statements_of_one_flush_go_in_commands_of_at_most_max_statements() -> None:
    results = Results()
    outcomes = await save_all(writes_to(results), [result(n) for n in range(MAX_STATEMENTS + 8)])
    assert [len(command) for command in results.commands] == [MAX_STATEMENTS, 8]
    assert all(isinstance(o, SaveOutcome) and o.created for o in outcomes)


async def test_large_results_share_a_command_only_up_to_max_command_bytes() -> None:
    results = Results()
    documents = [result(n, payload_bytes=MAX_COMMAND_BYTES * 3 // 8) for n in range(5)]
    documents.insert(2, result(99, payload_bytes=MAX_COMMAND_BYTES + MIB))  # larger than a command: alone
    outcomes = await save_all(writes_to(results), documents)
    sent = [[result_id(statement) for statement in command] for command in results.commands]
    assert sent == [["r000", "r001"], ["r099"], ["r002", "r003"], ["r004"]]
    assert all(isinstance(o, SaveOutcome) and o.created for o in outcomes)


async def test_marks_go_first_and_count_as_statements() -> None:
    results = Results()
    writes = writes_to(results)
    await save_all(writes, [result(n) for n in range(MAX_STATEMENTS + 1)])
    for n in range(MAX_STATEMENTS + 1):
        writes.mark_published_soon(f"r{n:03d}", T0)
    await writes.save(result(200))
    marks_and_upserts = [["$set" not in as_sent(s) for s in command] for command in results.commands[2:]]
    assert marks_and_upserts == [[False] * MAX_STATEMENTS, [False, True]]
    assert all(results.documents[f"r{n:03d}"]["event_published_at"] == T0 for n in range(MAX_STATEMENTS + 1))
    await writes.close()


async def test_a_caller_whose_outcome_cannot_be_told_fails_alone() -> None:
    results = Results()
    # Stored by an older writer without its ``stored_at``: the copy sent now finds it, and cannot say when.
    results.documents["r001"] = {"_id": "r001", "event_published_at": None}
    outcomes = await save_all(writes_to(results), [result(0), result(1), result(2)])
    assert isinstance(outcomes[1], KeyError)
    assert outcomes[0] == outcomes[2] == SaveOutcome(True, T0, False)


async def test_a_command_that_fails_fails_the_callers_it_and_the_later_commands_carry() -> None:
    async def mongodb_gone_at_the_second(number: int) -> None:
        if number == 2:
            raise AutoReconnect("connection reset")

    results = Results(mongodb_gone_at_the_second)
    outcomes = await save_all(writes_to(results), [result(n) for n in range(2 * MAX_STATEMENTS + 4)])
    assert len(results.commands) == 2, "nothing more is sent to a MongoDB that stopped answering"
    assert all(isinstance(o, SaveOutcome) for o in outcomes[:MAX_STATEMENTS])
    assert all(isinstance(o, DependencyUnavailable) for o in outcomes[MAX_STATEMENTS:])


async def test_a_cancellation_between_commands_answers_every_caller_and_the_next_save_goes_out() -> None:
    async def cancelled_at_the_second(number: int) -> None:
        if number == 2:
            raise asyncio.CancelledError

    results = Results(cancelled_at_the_second)
    writes = writes_to(results)
    outcomes = await save_all(writes, [result(n) for n in range(MAX_STATEMENTS + 4)])
    assert all(isinstance(o, SaveOutcome) for o in outcomes[:MAX_STATEMENTS])
    assert all(isinstance(o, DependencyUnavailable) for o in outcomes[MAX_STATEMENTS:])
    # The messages come back: their results are then written, once.
    again = await save_all(writes, [result(n) for n in range(MAX_STATEMENTS, MAX_STATEMENTS + 4)])
    assert all(isinstance(o, SaveOutcome) and o.created for o in again)


async def test_a_result_that_cannot_be_encoded_fails_only_its_own_save() -> None:
    results = Results()
    unencodable = {**result(1), "route": object()}
    outcomes = await save_all(writes_to(results), [result(0), unencodable, result(2)])
    assert isinstance(outcomes[1], bson.errors.InvalidDocument)
    assert outcomes[0] == outcomes[2] == SaveOutcome(True, T0, False)
    assert sorted(results.documents) == ["r000", "r002"]


@pytest.mark.parametrize("size", [0, MAX_COMMAND_BYTES])
async def test_copies_of_one_result_are_one_statement_whatever_their_size(size: int) -> None:
    results = Results()
    copies = [result(0, payload_bytes=size) for _ in range(3)]
    outcomes = await save_all(writes_to(results), copies)
    assert [len(command) for command in results.commands] == [1]
    assert [o.created for o in outcomes if isinstance(o, SaveOutcome)] == [True, False, False]
