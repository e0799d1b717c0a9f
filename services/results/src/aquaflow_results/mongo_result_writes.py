"""The result collection's writes of the messages in flight, sent to MongoDB together.

Every write command costs MongoDB a round trip and, as a retryable write, an entry in its
retryable-write table; the statements of one command share both. So the results that the
messages in flight bring are inserted by one ``update`` command (an upsert per result), and
the "announced" marks of earlier results ride along in the same command.

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

from bson.errors import BSONError
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, WriteError

from aquaflow_results.mongo_errors import mongodb_errors
from aquaflow_results.ports import SaveOutcome
from aquaflow_shared.errors import DependencyUnavailable

DUPLICATE_KEY = 11000
# How long an announced result may stay unmarked when no other result write comes to carry its mark.
MARK_LINGER_SECONDS = 1.0
_READ_BACK = {"stored_at": 1, "event_published_at": 1}


@dataclass
class _Batch:
    """What one command writes: new results (one caller each, maybe several per id) and marks."""

    saves: list[tuple[dict[str, Any], asyncio.Future[SaveOutcome]]] = field(default_factory=list)
    marks: dict[str, datetime] = field(default_factory=dict)
    # Callers of ``mark_published``, who wait for their mark to be written.
    marked: list[asyncio.Future[None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.saves or self.marks or self.marked)

    def waiting(self) -> Iterator[asyncio.Future[Any]]:
        yield from (future for _, future in self.saves)
        yield from self.marked

    def split(self) -> list[_Batch]:
        """One batch per result id (the marks with the first), to tell which document MongoDB cannot take."""
        parts: dict[str, _Batch] = {}
        for document, future in self.saves:
            parts.setdefault(document["_id"], _Batch()).saves.append((document, future))
        batches = list(parts.values()) or [_Batch()]
        batches[0].marks, batches[0].marked = self.marks, self.marked
        return batches

    def first_copies(self) -> dict[str, dict[str, Any]]:
        """Each result id once, with the document of its first copy."""
        firsts: dict[str, dict[str, Any]] = {}
        for document, _ in self.saves:
            firsts.setdefault(document["_id"], document)
        return firsts


@dataclass(frozen=True)
class _Written:
    """What MongoDB answered for one batch, by result id."""

    upserted: set[str]
    refused: dict[str, WriteError]
    found: dict[str, dict[str, Any]]


def _outcome(document: dict[str, Any], first: dict[str, Any], written: _Written) -> SaveOutcome | Exception:
    """One caller's outcome; ``first`` is the copy of its result that the batch sent."""
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


class ResultWrites:
    """Coalesces the result collection's writes: one command per batch of messages in flight.

    The first write starts a flush at once; the writes asked for while it runs go out
    together in the next one. No caller waits for a timer, and none returns before the
    command carrying its write is acknowledged (``w: majority``, journaled).
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
        try:
            written = await self._write(batch)
        except BSONError as error:
            # A document that cannot be sent (too large) fails its own message, not the others:
            # each result goes again on its own (those already written are then found, not created).
            parts = batch.split()
            if len(parts) == 1:
                self._fail(batch, error)
                return
            for part in parts:
                await self._send(part)
            return
        except BaseException as error:
            self._fail(batch, error)
            if not isinstance(error, Exception):
                raise
            return
        firsts = batch.first_copies()
        for document, future in batch.saves:
            outcome = _outcome(document, firsts[document["_id"]], written)
            if future.done():
                continue  # its caller was cancelled
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        for marked in batch.marked:
            if not marked.done():
                marked.set_result(None)

    def _fail(self, batch: _Batch, error: BaseException) -> None:
        """Every waiting caller gets the failure; the marks wait for the next batch."""
        self._next.marks = {**batch.marks, **self._next.marks}
        for future in batch.waiting():
            if not future.done():
                future.set_exception(_for_each_caller(error))

    async def _write(self, batch: _Batch) -> _Written:
        firsts = batch.first_copies()
        statements = [UpdateOne({"_id": rid}, {"$set": {"event_published_at": at}}) for rid, at in batch.marks.items()]
        inserting: list[str | None] = [None] * len(statements)
        for rid, document in firsts.items():
            fields = {k: v for k, v in document.items() if k != "_id"}
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
            existing = sorted(rid for rid in firsts if rid not in upserted and rid not in refused)
            found: dict[str, dict[str, Any]] = {}
            if existing:
                # Found, not created: read when it was stored and whether it was announced.
                cursor = self._collection.find({"_id": {"$in": existing}}, _READ_BACK)
                found = {str(doc["_id"]): doc async for doc in cursor}
        return _Written(upserted, refused, found)
