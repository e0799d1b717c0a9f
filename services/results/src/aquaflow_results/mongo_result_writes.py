"""The result collection's writes of the messages in flight, sent to MongoDB together.

Every write command costs MongoDB a round trip and, as a retryable write, an entry in its
retryable-write table; the statements of one command share both. So the results that the
messages in flight bring are inserted by one ``update`` command (an upsert per result), and
the "announced" marks of earlier results ride along in the same command.

One command is bounded all the same (``MAX_STATEMENTS``, ``MAX_COMMAND_BYTES``): the client's
timeout applies to each command, and a batch of large scan results sent as one could run
past it where each part would not, failing every caller at once. What does not fit goes in
the next command of the same flush.

Exactly once is kept by the data, not by the batching:

- a result is an upsert keyed by its ``_id`` with ``$setOnInsert``: however often and in
  whichever batch it is sent, one document exists and the first ``stored_at`` stays;
- each caller learns whether its statement created the document (``upserted``) or found
  one (then ``stored_at`` and ``event_published_at`` are read back), as with one
  ``update_one`` per result; two copies in one batch are one statement, the first copy
  creating the document and the other finding it not yet announced;
- a mark only sets ``event_published_at``: sent twice, or late, it changes nothing else.

The one write its caller does not wait for is the mark of ``mark_published_soon``: it goes
with the next batch, after ``MARK_LINGER_SECONDS`` when no batch comes, or on ``close``.
A process killed in between leaves an announced result unmarked. Its message was
acknowledged, so only another copy of the same inference event could find it so, and that
copy would announce it again with the same message id and ``stored_at`` (a duplicate that
consumers of ``result.*`` drop by message id), never a second, distinct result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import bson
from bson.errors import BSONError
from bson.raw_bson import RawBSONDocument
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, WriteError

from aquaflow_results.mongo_errors import mongodb_errors
from aquaflow_results.ports import SaveOutcome
from aquaflow_shared.errors import DependencyUnavailable

DUPLICATE_KEY = 11000
# How long an announced result may stay unmarked when no other result write comes to carry its mark.
MARK_LINGER_SECONDS = 1.0
# Statements per command: a full prefetch (16 results) and the marks of the 16 announced before
# them still go as one command, the common case under load.
MAX_STATEMENTS = 32
# BSON bytes of the statements per command: a few large scan results (hundreds of regions, up
# to a few MiB each) per command, far below what MongoDB takes in the client's timeout. A
# document larger than this goes alone in its command (up to MongoDB's own 16 MiB limit).
MAX_COMMAND_BYTES = 4 << 20
# About what a mark statement weighs: an ``_id`` and a date.
_MARK_BYTES = 96
_READ_BACK = {"stored_at": 1, "event_published_at": 1}
_NO_ANSWER = "the result write ended without an answer"

# A caller of ``save``: the document it asked to save, and where its outcome goes.
_Caller = tuple[dict[str, Any], asyncio.Future[SaveOutcome]]


@dataclass
class _Batch:
    """What one flush writes: new results (one caller each, maybe several per id) and marks."""

    saves: list[_Caller] = field(default_factory=list)
    marks: dict[str, datetime] = field(default_factory=dict)
    # Callers of ``mark_published``, who wait for their mark to be written.
    marked: list[asyncio.Future[None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.saves or self.marks or self.marked)

    def waiting(self) -> Iterator[asyncio.Future[Any]]:
        yield from (future for _, future in self.saves)
        yield from self.marked

    def by_result(self) -> dict[str, list[_Caller]]:
        """The callers of each result id, in order: the first one's document is the copy sent."""
        callers: dict[str, list[_Caller]] = {}
        for document, future in self.saves:
            callers.setdefault(document["_id"], []).append((document, future))
        return callers


@dataclass
class _Command:
    """The statements of one ``update`` command: marks first, then one upsert per result id."""

    marks: dict[str, datetime] = field(default_factory=dict)
    # Each result's fields to insert, by result id.
    upserts: dict[str, RawBSONDocument] = field(default_factory=dict)
    size: int = 0

    def __len__(self) -> int:
        return len(self.marks) + len(self.upserts)

    def has_room(self, size: int) -> bool:
        """Whether one more statement of ``size`` bytes fits; an empty command takes any one."""
        return not self or (len(self) < MAX_STATEMENTS and self.size + size <= MAX_COMMAND_BYTES)


def _commands(marks: dict[str, datetime], upserts: dict[str, RawBSONDocument]) -> list[_Command]:
    """The statements, in order, in as few commands within the bounds as they fit."""
    commands = [_Command()]

    def room_for(size: int) -> _Command:
        if not commands[-1].has_room(size):
            commands.append(_Command())
        commands[-1].size += size
        return commands[-1]

    for rid, at in marks.items():
        room_for(_MARK_BYTES).marks[rid] = at
    for rid, fields in upserts.items():
        room_for(len(fields.raw)).upserts[rid] = fields
    return [command for command in commands if command]


def _inserted_fields(document: dict[str, Any]) -> RawBSONDocument:
    """What the upsert inserts besides ``_id``, encoded once: its size bounds the command,
    and PyMongo sends these bytes as they are instead of encoding the document again."""
    return RawBSONDocument(bson.encode({k: v for k, v in document.items() if k != "_id"}))


@dataclass(frozen=True)
class _Written:
    """What MongoDB answered for one command, by result id."""

    upserted: set[str]
    refused: dict[str, WriteError]
    found: dict[str, dict[str, Any]]


def _outcome(document: dict[str, Any], first: dict[str, Any], written: _Written) -> SaveOutcome | Exception:
    """One caller's outcome; ``first`` is the copy of its result that the command sent."""
    rid = document["_id"]
    if rid in written.refused:
        return written.refused[rid]
    if rid in written.upserted:
        if document is first:
            return SaveOutcome(True, document["stored_at"], False)
        return SaveOutcome(False, first["stored_at"], False)
    stored = written.found.get(rid)
    if stored is None:
        return DependencyUnavailable("mongodb", "a result vanished between its upsert and its read")
    return SaveOutcome(False, stored["stored_at"], stored.get("event_published_at") is not None)


def _for_each_caller(error: BaseException) -> BaseException:
    """The failure to hand every caller of a failed batch (each its own object where it is ours)."""
    if isinstance(error, DependencyUnavailable):
        return DependencyUnavailable(error.dependency, error.reason)
    if isinstance(error, asyncio.CancelledError):
        return DependencyUnavailable("mongodb", "saving results was cancelled")
    return error


def _answer(callers: list[_Caller], written: _Written) -> None:
    """Each caller of one result its outcome; one whose outcome cannot be told fails alone."""
    first = callers[0][0]
    for document, future in callers:
        if future.done():
            continue  # its caller was cancelled
        try:
            outcome = _outcome(document, first, written)
        except Exception as error:  # noqa: BLE001 - e.g. a stored result without ``stored_at``: its caller fails
            outcome = error
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _refuse(callers: list[_Caller], error: BaseException) -> None:
    for _, future in callers:
        if not future.done():
            future.set_exception(error)


class ResultWrites:
    """Coalesces the result collection's writes: one command per batch of messages in flight.

    The first write starts a flush at once; the writes asked for while it runs go out
    together in the next one (in more than one command where they exceed one's bounds).
    No caller waits for a timer, and none returns before the command carrying its write
    is acknowledged (``w: majority``, journaled).
    """

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._collection = collection
        self._next = _Batch()
        self._flushing: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._closed = False

    async def save(self, document: dict[str, Any]) -> SaveOutcome:
        """Insert ``document`` unless a result with its ``_id`` exists; report which happened."""
        outcome: asyncio.Future[SaveOutcome] = asyncio.get_running_loop().create_future()
        self._next.saves.append((document, outcome))
        self._flush_now()
        return await outcome

    async def mark_published(self, result_id: str, at: datetime) -> None:
        """Record that the result's event went out, and wait until that is written."""
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._next.marks[result_id] = at
        self._next.marked.append(written)
        self._flush_now()
        await written

    def mark_published_soon(self, result_id: str, at: datetime) -> None:
        """Record that the result's event went out, with the next write (see the module's docstring)."""
        self._next.marks[result_id] = at
        self._linger_unless_flushing()

    async def close(self) -> None:
        """Write what is pending (the marks no batch carried yet) and stop lingering."""
        self._closed = True
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        if self._next:
            self._flush_now()
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        self._cancel_linger()

    def _flush_now(self) -> None:
        self._cancel_linger()
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._drain())

    def _cancel_linger(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def _linger_unless_flushing(self) -> None:
        if self._flushing is None and self._linger is None and not self._closed:
            self._linger = asyncio.get_running_loop().call_later(MARK_LINGER_SECONDS, self._flush_now)

    async def _drain(self) -> None:
        try:
            while self._next:
                batch, self._next = self._next, _Batch()
                await self._send(batch)
                if not (self._next.saves or self._next.marked):
                    break  # marks alone wait for the next batch, or for the linger
        except BaseException as error:
            # Cancelled (the loop is closing): no flush will send what waits, so its callers fail.
            self._fail(self._next, error)
            self._next = _Batch(marks=self._next.marks)
            raise
        finally:
            self._flushing = None
        if self._next.marks:
            self._linger_unless_flushing()

    async def _send(self, batch: _Batch) -> None:
        """Write the batch, a bounded command at a time; every caller of it is answered, whatever happens."""
        try:
            await self._send_commands(batch)
        except BaseException as error:
            self._fail(batch, error)
            if not isinstance(error, Exception):
                raise
        finally:
            # Only a path not foreseen above could leave a caller waiting: it would wait forever.
            for future in batch.waiting():
                if not future.done():
                    future.set_exception(DependencyUnavailable("mongodb", _NO_ANSWER))

    async def _send_commands(self, batch: _Batch) -> None:
        callers = batch.by_result()
        upserts: dict[str, RawBSONDocument] = {}
        for rid, copies in callers.items():
            try:
                upserts[rid] = _inserted_fields(copies[0][0])
            except (BSONError, OverflowError) as error:
                _refuse(copies, error)  # cannot be encoded: fails its own message, not the others
        for command in _commands(batch.marks, upserts):
            try:
                written = await self._write(command)
            except BSONError as error:
                if command.marks:
                    raise  # not a document too large (one never shares a command): the batch fails
                # A document over MongoDB's size limit, alone in its command (it exceeds
                # MAX_COMMAND_BYTES): it fails its own message; the next commands still go.
                for rid in command.upserts:
                    _refuse(callers[rid], error)
                continue
            for rid in command.upserts:
                _answer(callers[rid], written)
        for marked in batch.marked:
            if not marked.done():
                marked.set_result(None)

    def _fail(self, batch: _Batch, error: BaseException) -> None:
        """Every caller still waiting gets the failure; the marks wait for the next batch."""
        self._next.marks = {**batch.marks, **self._next.marks}
        for future in batch.waiting():
            if not future.done():
                future.set_exception(_for_each_caller(error))

    async def _write(self, command: _Command) -> _Written:
        statements = [
            UpdateOne({"_id": rid}, {"$set": {"event_published_at": at}}) for rid, at in command.marks.items()
        ]
        inserting: list[str | None] = [None] * len(statements)
        for rid, fields in command.upserts.items():
            # A plain update document around the encoded fields: PyMongo checks its first key only.
            statements.append(UpdateOne({"_id": rid}, {"$setOnInsert": fields}, upsert=True))
            inserting.append(rid)
        refused: dict[str, WriteError] = {}
        with mongodb_errors("saving results"):
            try:
                result = await self._collection.bulk_write(statements, ordered=False)
                upserted = {str(rid) for rid in (result.upserted_ids or {}).values()}
            except BulkWriteError as failure:
                details = failure.details
                if details.get("writeConcernErrors"):
                    raise  # applied but not durably: as with one update_one, the messages fail and come back
                upserted = {str(entry["_id"]) for entry in details.get("upserted", [])}
                for error in details.get("writeErrors", []):
                    rid = inserting[error["index"]]
                    # A duplicate key: another replica's copy of the result won the race, so it exists.
                    # A failed mark leaves the result unmarked, like a mark never sent.
                    if rid is not None and error.get("code") != DUPLICATE_KEY:
                        refused[rid] = WriteError(str(error.get("errmsg", "write error")), error.get("code"), error)
            existing = sorted(rid for rid in command.upserts if rid not in upserted and rid not in refused)
            found: dict[str, dict[str, Any]] = {}
            if existing:
                # Found, not created: read when it was stored and whether it was announced.
                cursor = self._collection.find({"_id": {"$in": existing}}, _READ_BACK)
                found = {str(doc["_id"]): doc async for doc in cursor}
        return _Written(upserted, refused, found)
