"""Batches in MongoDB: ``batches`` (one document per batch) and ``batches.items`` (one per object version).

Items are settled by looking at what the results service stores: results (one per object
version and model), the dead letters it recorded (``dead_letter_copies``) and the samples
whose manifest an item is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from aquaflow_results.batches import (
    UNSETTLED_OR_FAILED,
    BatchSpec,
    ItemState,
    StoredHit,
    item_id,
    progress,
    sent_state,
    settle,
    stored_for,
)
from aquaflow_results.mongo_errors import mongodb_errors
from aquaflow_results.mongo_letters import MongoLetters

Document = dict[str, Any]
# Object versions looked up in one query.
CHUNK = 500
DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class ListedObject:
    key: str
    etag: str
    size: int | None = None


@dataclass(frozen=True)
class Registered:
    """The answer to one registered page: what to send now, and what needs nothing."""

    to_send: list[Document]
    skipped: int
    known: int


class BatchConflict(Exception):
    """A batch id already names another batch."""


def _now() -> datetime:
    return datetime.now(UTC)


class MongoBatches:
    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        results: str = "results",
        samples: str = "samples",
        batches: str = "batches",
        letters: str = "dead_letters",
    ) -> None:
        self._batches: AsyncCollection[Document] = database[batches]
        self._items: AsyncCollection[Document] = database[f"{batches}.items"]
        self._results: AsyncCollection[Document] = database[results]
        self._samples: AsyncCollection[Document] = database[samples]
        self.letters = MongoLetters(database[letters], self._results)
        self._indexed = False

    async def ensure_indexes(self) -> None:
        if self._indexed:
            return
        with mongodb_errors("creating batch indexes"):
            await self._batches.create_index([("tenant", ASCENDING), ("_id", ASCENDING)])
            await self._items.create_index([("batch_id", ASCENDING), ("state", ASCENDING), ("_id", ASCENDING)])
        await self.letters.ensure_indexes()
        self._indexed = True

    # -- batches -------------------------------------------------------------------------

    async def create(self, tenant: str, batch_id: str, spec: BatchSpec) -> tuple[Document, bool]:
        """The batch, created unless it exists; a second request for the same batch resumes it."""
        now = _now()
        document = {
            "_id": batch_id,
            "tenant": tenant,
            **spec.as_document(),
            "created_at": now,
            "updated_at": now,
            "listed_until": None,
            "listing_done": False,
        }
        with mongodb_errors("creating a batch"):
            try:
                await self._batches.insert_one(document)
            except DuplicateKeyError:
                existing = await self._batches.find_one({"_id": batch_id})
                if existing is None or existing["tenant"] != tenant or BatchSpec.of(existing) != spec:
                    raise BatchConflict(f"batch id {batch_id!r} names another batch") from None
                return existing, False
        return document, True

    async def get(self, tenant: str, batch_id: str) -> Document | None:
        with mongodb_errors("reading a batch"):
            return await self._batches.find_one({"_id": batch_id, "tenant": tenant})

    async def find(self, tenant: str, after: str | None, limit: int) -> tuple[list[Document], str | None]:
        query: Document = {"tenant": tenant} | ({"_id": {"$gt": after}} if after else {})
        with mongodb_errors("finding batches"):
            found = [d async for d in self._batches.find(query).sort("_id", ASCENDING).limit(limit + 1)]
        items = found[:limit]
        return items, (items[-1]["_id"] if len(found) > limit else None)

    # -- items -----------------------------------------------------------------------------

    async def register(self, batch: Document, objects: list[ListedObject]) -> Registered:
        """Record a page of the listing; answer the items to send (new ones, and ones sent unconfirmed)."""
        spec = BatchSpec.of(batch)
        by_id = {item_id(batch["_id"], o.key, o.etag): o for o in objects}
        with mongodb_errors("registering batch items"):
            known = {d["_id"] async for d in self._items.find({"_id": {"$in": list(by_id)}}, {"_id": 1})}
            new = {i: o for i, o in by_id.items() if i not in known}
            keys = [o.key for o in new.values()]
            stored = {} if spec.reprocess else await self._stored(batch["tenant"], batch["bucket"], keys)
            now = _now()
            documents = []
            for identity, listed in new.items():
                hit = stored_for(spec, stored.get((listed.key, listed.etag), []))
                state = ItemState.SKIPPED if hit is not None else ItemState.ENQUEUING
                documents.append(
                    {
                        "_id": identity,
                        "batch_id": batch["_id"],
                        "tenant": batch["tenant"],
                        "bucket": batch["bucket"],
                        "key": listed.key,
                        "etag": listed.etag,
                        "size": listed.size,
                        "state": state.value,
                        "result_id": hit.result_id if hit else None,
                        "registered_at": now,
                        "enqueued_at": None,
                        "settled_at": now if hit else None,
                    }
                )
            await self._insert_new(documents)
            to_send = [
                d
                async for d in self._items.find({"_id": {"$in": list(by_id)}, "state": ItemState.ENQUEUING.value}).sort(
                    "key", ASCENDING
                )
            ]
        skipped = sum(1 for d in documents if d["state"] == ItemState.SKIPPED.value)
        return Registered(to_send=to_send, skipped=skipped, known=len(known))

    async def _insert_new(self, documents: list[Document]) -> None:
        if not documents:
            return
        try:
            await self._items.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            # Another run of the same batch registered some of them first: theirs stand.
            if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise

    async def mark_sent(
        self, batch: Document, ids: list[str], *, listed_until: str | None, listing_done: bool
    ) -> Document:
        """The items' requests are confirmed by the broker; the listing got as far as ``listed_until``."""
        now = _now()
        with mongodb_errors("marking batch items sent"):
            sent = [
                d
                async for d in self._items.find(
                    {"_id": {"$in": ids}, "batch_id": batch["_id"], "state": ItemState.ENQUEUING.value}, {"key": 1}
                )
            ]
            updates = [
                UpdateOne(
                    {"_id": d["_id"], "state": ItemState.ENQUEUING.value},
                    {"$set": {"state": sent_state(d["key"]).value, "enqueued_at": now}},
                )
                for d in sent
            ]
            if updates:
                await self._items.bulk_write(updates, ordered=False)
            fields: Document = {"updated_at": now}
            if listed_until is not None:
                fields["listed_until"] = listed_until
            if listing_done:
                fields["listing_done"] = True
            await self._batches.update_one({"_id": batch["_id"]}, {"$set": fields})
            found = await self._batches.find_one({"_id": batch["_id"]})
        assert found is not None  # batches are never deleted
        return found

    async def refresh(self, batch: Document) -> None:
        """Settle the items sent and still pending (or failed, which a replayed dead letter may since have stored)."""
        spec = BatchSpec.of(batch)
        query: Document = {"batch_id": batch["_id"], "state": {"$in": [s.value for s in UNSETTLED_OR_FAILED]}}
        after: str | None = None
        while True:
            page = query | ({"_id": {"$gt": after}} if after else {})
            with mongodb_errors("reading batch items"):
                items = [d async for d in self._items.find(page).sort("_id", ASCENDING).limit(CHUNK)]
            if not items:
                return
            after = items[-1]["_id"]
            await self._settle_chunk(batch, spec, items)

    async def _settle_chunk(self, batch: Document, spec: BatchSpec, items: list[Document]) -> None:
        tenant, bucket = batch["tenant"], batch["bucket"]
        keys = sorted({i["key"] for i in items})
        stored = await self._stored(tenant, bucket, keys)
        failures = await self.letters.of_objects(tenant, bucket, keys, batch["_id"])
        manifests = await self._manifests(tenant, bucket, keys)
        now = _now()
        updates = []
        for item in items:
            version = (item["key"], item["etag"])
            outcome = settle(
                spec,
                item.get("enqueued_at"),
                stored.get(version, []),
                failures.get(version, []),
                manifests.get(item["key"]),
            )
            if outcome is None or outcome.state.value == item["state"]:
                continue
            if item["state"] == ItemState.FAILED.value and outcome.state is not ItemState.STORED:
                continue  # only a stored result changes a failed item
            fields = {
                "state": outcome.state.value,
                "settled_at": now,
                "result_id": outcome.result_id,
                "stage": outcome.stage,
                "code": outcome.code,
                "reason": outcome.reason,
            }
            updates.append(UpdateOne({"_id": item["_id"], "state": item["state"]}, {"$set": fields}))
        if updates:
            with mongodb_errors("settling batch items"):
                await self._items.bulk_write(updates, ordered=False)

    async def counts(self, batch_id: str) -> dict[str, int]:
        with mongodb_errors("counting batch items"):
            cursor = await self._items.aggregate(
                [{"$match": {"batch_id": batch_id}}, {"$group": {"_id": "$state", "n": {"$sum": 1}}}]
            )
            return {row["_id"]: int(row["n"]) async for row in cursor}

    async def view(self, batch: Document) -> Document:
        """The batch as the API shows it, with its figures."""
        counts = await self.counts(batch["_id"])
        public = {"id": batch["_id"], **{k: v for k, v in batch.items() if k != "_id"}}
        return public | progress(counts, listing_done=bool(batch.get("listing_done")))

    async def items(
        self, batch_id: str, state: str | None, after: str | None, limit: int
    ) -> tuple[list[Document], str | None]:
        query: Document = {"batch_id": batch_id}
        if state is not None:
            query["state"] = state
        if after is not None:
            query["_id"] = {"$gt": after}
        with mongodb_errors("listing batch items"):
            found = [d async for d in self._items.find(query).sort("_id", ASCENDING).limit(limit + 1)]
        page = found[:limit]
        return page, (page[-1]["_id"] if len(found) > limit else None)

    # -- what results stores ---------------------------------------------------------------

    async def _stored(self, tenant: str, bucket: str, keys: list[str]) -> dict[tuple[str, str], list[StoredHit]]:
        found: dict[tuple[str, str], list[StoredHit]] = defaultdict(list)
        if not keys:
            return found
        query = {"tenant": tenant, "object.bucket": bucket, "object.key": {"$in": keys}}
        with mongodb_errors("looking up results"):
            async for doc in self._results.find(query, {"object.key": 1, "object.etag": 1, "model": 1}):
                found[(doc["object"]["key"], doc["object"]["etag"])].append(StoredHit(doc["_id"], doc["model"]))
        return found

    async def _manifests(self, tenant: str, bucket: str, keys: list[str]) -> dict[str, datetime]:
        names = {f"s3://{bucket}/{key}": key for key in keys}
        query = {"tenant": tenant, "manifest.object": {"$in": sorted(names)}}
        with mongodb_errors("looking up sample manifests"):
            return {
                names[doc["manifest"]["object"]]: doc["manifest"]["received_at"]
                async for doc in self._samples.find(query, {"manifest": 1})
            }
