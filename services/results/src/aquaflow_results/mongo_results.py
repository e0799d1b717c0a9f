"""The result collection: one document per object version and model (and pinned version)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from aquaflow_results.aggregates import ObjectRow, SampleTally, TalliedFailure, TalliedResult, Upload
from aquaflow_results.cursors import Cursor
from aquaflow_results.mongo_errors import mongodb_errors
from aquaflow_results.mongo_result_writes import ResultWrites
from aquaflow_results.ports import RESULT_FILTERS, Page, ResultQuery, SaveOutcome

SORT = [("stored_at", ASCENDING), ("_id", ASCENDING)]
# What a sample's aggregates read of each result and failure: which upload, model and version,
# and the objects' labels and sizes only.
_UPLOAD_FIELDS = {"object.bucket": 1, "object.key": 1, "object.etag": 1, "object.version_id": 1}
TALLY_PROJECTION = {
    "_id": 1,
    **_UPLOAD_FIELDS,
    "model": 1,
    "model_version": 1,
    "primary": 1,
    "stored_at": 1,
    "objects.label": 1,
    "objects.features.object_esd": 1,
    "objects.features.object_area": 1,
}
FAILURE_PROJECTION = {"_id": 1, **_UPLOAD_FIELDS, "model": 1, "primary": 1}


def _after(cursor: Cursor) -> dict[str, Any]:
    """Strictly after ``cursor`` in (stored_at, _id) order."""
    return {
        "$or": [{"stored_at": {"$gt": cursor.stored_at}}, {"stored_at": cursor.stored_at, "_id": {"$gt": cursor.id}}]
    }


def result_filter(query: ResultQuery) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [{"tenant": query.tenant}]
    clauses += [{RESULT_FILTERS[name]: value} for name, value in query.equals.items()]
    if query.key_prefix:
        clauses.append({"object.key": {"$regex": f"^{re.escape(query.key_prefix)}"}})
    if query.label:
        clauses.append({"objects.label": query.label})
    if query.stored_after:
        clauses.append({"stored_at": {"$gt": query.stored_after}})
    if query.stored_before:
        clauses.append({"stored_at": {"$lt": query.stored_before}})
    if query.after:
        clauses.append(_after(query.after))
    return {"$and": clauses}


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _upload(doc: dict[str, Any]) -> Upload:
    source = doc.get("object") or {}
    return (str(source["bucket"]), str(source["key"]), str(source["etag"]), str(source.get("version_id") or ""))


def _row(entry: dict[str, Any]) -> ObjectRow:
    features = entry.get("features", {})
    return ObjectRow(entry.get("label"), _float(features.get("object_esd")), _float(features.get("object_area")))


def tallied_result(doc: dict[str, Any]) -> TalliedResult:
    return TalliedResult(
        result_id=str(doc["_id"]),
        upload=_upload(doc),
        model=str(doc["model"]),
        version=str(doc.get("model_version") or ""),
        # Results stored before a rule could name several models had one model: the primary.
        primary=bool(doc.get("primary", True)),
        stored_at=doc["stored_at"],
        rows=tuple(map(_row, doc.get("objects") or ())),
    )


def tallied_failure(doc: dict[str, Any]) -> TalliedFailure:
    return TalliedFailure(upload=_upload(doc), model=str(doc["model"]), primary=bool(doc.get("primary", True)))


class MongoResults:
    def __init__(self, collection: AsyncCollection[dict[str, Any]], failures: AsyncCollection[dict[str, Any]]) -> None:
        self._collection = collection
        self._failures = failures
        self._writes = ResultWrites(collection)

    async def record_failure(self, document: dict[str, Any]) -> None:
        with mongodb_errors("recording a failed upload"):
            fields = {k: v for k, v in document.items() if k != "_id"}
            try:
                await self._failures.update_one({"_id": document["_id"]}, {"$setOnInsert": fields}, upsert=True)
            except DuplicateKeyError:
                pass  # two copies of one dead letter raced: the other one recorded it

    async def save(self, document: dict[str, Any]) -> SaveOutcome:
        # With the saves of the other messages in flight, in one command (mongo_result_writes).
        return await self._writes.save(document)

    async def mark_published(self, result_id: str, at: datetime) -> None:
        await self._writes.mark_published(result_id, at)

    def mark_published_soon(self, result_id: str, at: datetime) -> None:
        self._writes.mark_published_soon(result_id, at)

    async def close(self) -> None:
        await self._writes.close()

    async def find(self, query: ResultQuery) -> Page:
        with mongodb_errors("finding results"):
            found = [doc async for doc in self._collection.find(result_filter(query)).sort(SORT).limit(query.limit + 1)]
        items = found[: query.limit]
        last = items[-1] if items and len(found) > query.limit else None
        return Page(items, Cursor(last["stored_at"], last["_id"]) if last else None)

    async def get(self, tenant: str, result_id: str) -> dict[str, Any] | None:
        with mongodb_errors("reading a result"):
            return await self._collection.find_one({"_id": result_id, "tenant": tenant})

    async def of_sample(self, tenant: str, sample_id: str) -> list[dict[str, Any]]:
        with mongodb_errors("reading a sample's results"):
            return [doc async for doc in self._collection.find({"tenant": tenant, "sample_id": sample_id}).sort(SORT)]

    async def tally(self, tenant: str, sample_id: str) -> SampleTally:
        """Every result and failure of the sample, as the aggregates read them."""
        query = {"tenant": tenant, "sample_id": sample_id}
        with mongodb_errors("tallying a sample"):
            results = [tallied_result(doc) async for doc in self._collection.find(query, TALLY_PROJECTION)]
            failures = [tallied_failure(doc) async for doc in self._failures.find(query, FAILURE_PROJECTION)]
        return SampleTally(results=results, failures=failures)
