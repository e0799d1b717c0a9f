"""Recorded dead letters in MongoDB (``dead_letters``): one document per object version, stage and batch."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from aquaflow_results.batches import FailureHit
from aquaflow_results.letters import LetterRecord
from aquaflow_results.mongo_errors import mongodb_errors

Document = dict[str, Any]


class MongoLetters:
    def __init__(self, letters: AsyncCollection[Document], results: AsyncCollection[Document]) -> None:
        self._letters = letters
        self._results = results

    async def ensure_indexes(self) -> None:
        with mongodb_errors("creating dead-letter indexes"):
            await self._letters.create_index(
                [("tenant", ASCENDING), ("object.bucket", ASCENDING), ("object.key", ASCENDING)]
            )

    async def record(self, letter: LetterRecord) -> None:
        """Insert, or on a repeat keep the first time and take the latest reason and time."""
        now = datetime.now(UTC)
        update = {
            "$set": {"code": letter.code, "reason": letter.reason, "failed_at": now},
            "$setOnInsert": {k: v for k, v in letter.fields().items() if k not in ("code", "reason")}
            | {"first_at": now},
            "$inc": {"count": 1},
        }
        with mongodb_errors("recording a dead letter"):
            try:
                await self._letters.update_one({"_id": letter.id}, update, upsert=True)
            except DuplicateKeyError:
                await self._letters.update_one({"_id": letter.id}, {k: update[k] for k in ("$set", "$inc")})

    async def of_objects(
        self, tenant: str, bucket: str, keys: list[str], batch_id: str
    ) -> dict[tuple[str, str], list[FailureHit]]:
        """The dead letters of these keys, by (key, ETag); a batch request's letters only for its own batch."""
        query = {
            "tenant": tenant,
            "object.bucket": bucket,
            "object.key": {"$in": keys},
            "batch_id": {"$in": [None, batch_id]},
        }
        found: dict[tuple[str, str], list[FailureHit]] = defaultdict(list)
        with mongodb_errors("looking up dead letters"):
            async for doc in self._letters.find(query):
                hit = FailureHit(doc["stage"], doc.get("model"), doc["code"], doc["reason"], doc["failed_at"])
                found[(doc["object"]["key"], doc["object"]["etag"])].append(hit)
        return found

    async def open_page(
        self, tenant: str, filters: Document, key_prefix: str | None, after: str | None, limit: int
    ) -> tuple[list[Document], str | None]:
        """Dead letters with no result of their object version (of their model) stored since, by id."""
        query: Document = {"tenant": tenant, **filters}
        if key_prefix:
            query["object.key"] = {"$regex": f"^{re.escape(key_prefix)}"}
        if after is not None:
            query["_id"] = {"$gt": after}
        with mongodb_errors("listing dead letters"):
            found = [d async for d in self._letters.find(query).sort("_id", ASCENDING).limit(limit + 1)]
            examined = found[:limit]
            page = [d for d in examined if not await self._stored(d)]
        return page, (examined[-1]["_id"] if len(found) > limit else None)

    async def _stored(self, letter: Document) -> bool:
        obj = letter["object"]
        query: Document = {
            "tenant": letter["tenant"],
            "object.bucket": obj["bucket"],
            "object.key": obj["key"],
            "object.etag": obj["etag"],
        }
        if letter.get("model"):
            query["model"] = letter["model"]
        return await self._results.find_one(query, {"_id": 1}) is not None
