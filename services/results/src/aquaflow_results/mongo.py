"""The MongoDB result store, through PyMongo's own async API (Motor is deprecated)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

from aquaflow_results.documents import UNIQUE_FIELDS
from aquaflow_results.errors import StoreUnavailable
from aquaflow_results.store import QUERYABLE, SaveOutcome

UNIQUE_INDEX = "one_result_per_object_version_and_model"


class MongoResultStore:
    def __init__(self, url: str, database: str, collection: str, timeout_seconds: float) -> None:
        self._url = url
        self._database = database
        self._collection_name = collection
        self._timeout_ms = int(timeout_seconds * 1000)
        self._client: AsyncMongoClient[dict[str, Any]] | None = None

    @property
    def _collection(self) -> AsyncCollection[dict[str, Any]]:
        if self._client is None:
            raise StoreUnavailable("result store is not open")
        return self._client[self._database][self._collection_name]

    async def open(self) -> None:
        self._client = AsyncMongoClient(
            self._url, serverSelectionTimeoutMS=self._timeout_ms, timeoutMS=self._timeout_ms, tz_aware=True
        )
        try:
            await self._collection.create_index([(f, ASCENDING) for f in UNIQUE_FIELDS], unique=True, name=UNIQUE_INDEX)
            await self._collection.create_index([("tenant", ASCENDING), ("stored_at", ASCENDING)])
            await self._collection.create_index([("correlation_id", ASCENDING)])
        except ConnectionFailure as error:
            raise StoreUnavailable(f"MongoDB unreachable: {error}") from error

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            await self._client.admin.command("ping")
        except PyMongoError:
            return False
        return True

    async def save(self, document: dict[str, Any]) -> SaveOutcome:
        fields = {k: v for k, v in document.items() if k != "_id"}
        try:
            written = await self._collection.update_one({"_id": document["_id"]}, {"$setOnInsert": fields}, upsert=True)
        except DuplicateKeyError:
            # Two deliveries raced on the unique index: the other one inserted it.
            written = None
        except (ConnectionFailure, OperationFailure) as error:
            raise StoreUnavailable(f"MongoDB write failed: {error}") from error
        if written is not None and written.upserted_id is not None:
            return SaveOutcome(True, document["stored_at"], False)
        stored = await self._find_existing(document)
        if stored is None:
            raise StoreUnavailable("MongoDB lost a result between upsert and read")
        return SaveOutcome(False, stored["stored_at"], stored.get("event_published_at") is not None)

    async def _find_existing(self, document: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return await self._collection.find_one({"_id": document["_id"]})
        except ConnectionFailure as error:
            raise StoreUnavailable(f"MongoDB read failed: {error}") from error

    async def mark_published(self, result_id: str, at: datetime) -> None:
        try:
            await self._collection.update_one({"_id": result_id}, {"$set": {"event_published_at": at}})
        except ConnectionFailure as error:
            raise StoreUnavailable(f"MongoDB write failed: {error}") from error

    async def find(self, filters: dict[str, str], limit: int = 100) -> list[dict[str, Any]]:
        query = {QUERYABLE[k]: v for k, v in filters.items()}
        try:
            return [doc async for doc in self._collection.find(query).sort("stored_at", ASCENDING).limit(limit)]
        except ConnectionFailure as error:
            raise StoreUnavailable(f"MongoDB read failed: {error}") from error
