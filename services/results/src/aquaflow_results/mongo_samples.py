"""The sample collection: one document per tenant and sample, ``_id`` = ``<tenant>:<sample id>``.

Every write here sets named fields only: the ``push`` sub-document belongs to the
EcoTaxa push code and is never replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from aquaflow_results.cursors import Cursor
from aquaflow_results.mongo_errors import mongodb_errors
from aquaflow_results.ports import Page
from aquaflow_shared.errors import DependencyUnavailable

# A creation that lost the race on ``_id`` updates on its next try; more tries only if the winner is not yet seen.
UPSERT_TRIES = 5


def sample_key(tenant: str, sample_id: str) -> str:
    return f"{tenant}:{sample_id}"


def new_sample(tenant: str, sample_id: str, now: datetime) -> dict[str, Any]:
    """A sample's fields before anything is known of it (``$setOnInsert``)."""
    return {
        "tenant": tenant,
        "sample_id": sample_id,
        "metadata": {},
        "expected_objects": None,
        "manifest": None,
        # Uploads with a result of the primary model (docs/samples.md).
        "processed": 0,
        # Inference dead letters of the sample with no result since (docs/samples.md).
        "failed": 0,
        "objects": 0,
        "counts": {},
        "unclassified": 0,
        "sizes": None,
        "abundance": None,
        # Results of every model; only grows, so an older refresh cannot overwrite a newer one.
        "results_stored": 0,
        # Each model's figures, and each of its versions' (docs/results.md).
        "models": {},
        "complete": False,
        "completed_at": None,
        "closed": False,
        "closed_at": None,
        "created_at": now,
        "updated_at": now,
    }


class MongoSamples:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._collection = collection

    @property
    def collection(self) -> AsyncCollection[dict[str, Any]]:
        return self._collection

    async def _upsert(self, tenant: str, sample_id: str, update: dict[str, Any]) -> dict[str, Any]:
        """Update or create, and return the sample as written.

        Two concurrent creations race on ``_id``, and the loser tries again: it then updates.
        """
        key = sample_key(tenant, sample_id)
        set_fields = update.get("$set", {})
        on_insert = {
            k: v
            for k, v in new_sample(tenant, sample_id, datetime.now(UTC)).items()
            if not any(k == f or f.startswith(f"{k}.") for f in set_fields)
        }
        full = {**update, "$setOnInsert": {**on_insert, **update.get("$setOnInsert", {})}}
        with mongodb_errors("writing a sample"):
            for _ in range(UPSERT_TRIES):
                try:
                    written = await self._collection.find_one_and_update(
                        {"_id": key}, full, upsert=True, return_document=ReturnDocument.AFTER
                    )
                except DuplicateKeyError:
                    continue  # another creation won the race: the next try updates its sample
                if written is not None:
                    return written
        raise DependencyUnavailable("mongodb", f"sample {key!r} could be neither created nor updated")

    async def ensure(self, tenant: str, sample_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        return await self._upsert(tenant, sample_id, {"$setOnInsert": {"metadata": metadata}})

    async def set_manifest(
        self, tenant: str, sample_id: str, metadata: dict[str, Any], expected_objects: int | None, source: str
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        fields = {
            "metadata": metadata,
            "expected_objects": expected_objects,
            "manifest": {"object": source, "received_at": now},
            "updated_at": now,
        }
        return await self._upsert(tenant, sample_id, {"$set": fields})

    async def set_aggregates(
        self, tenant: str, sample_id: str, aggregates: dict[str, Any], basis: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Write ``aggregates`` unless a sample with more stored results was written since.

        Results are never deleted, so ``results_stored`` only grows: a refresh that read an
        older snapshot of the sample's results cannot overwrite a newer one. (Samples written
        before the field existed have only ``processed``, which then counted every result.)
        ``basis``: fields the figures were computed from; unless the sample still has exactly
        these values, nothing is written either.
        """
        now = datetime.now(UTC)
        key = sample_key(tenant, sample_id)
        stored = aggregates["results_stored"]
        not_newer = {
            "$or": [
                {"results_stored": {"$lte": stored}},
                {"results_stored": {"$exists": False}, "processed": {"$lte": stored}},
            ]
        }
        # ``$eq``: the basis is stored data (a manifest's free-form metadata), matched as a whole
        # value; put as it is in the filter, a key of it starting with ``$`` would read as an operator.
        same_basis = {field: {"$eq": value} for field, value in (basis or {}).items()}
        with mongodb_errors("updating sample aggregates"):
            updated = await self._collection.find_one_and_update(
                {"_id": key, **not_newer, **same_basis},
                {"$set": {**aggregates, "updated_at": now}},
                return_document=ReturnDocument.AFTER,
            )
            if updated is not None and updated.get("complete") and updated.get("completed_at") is None:
                updated = await self._collection.find_one_and_update(
                    {"_id": key, "completed_at": None},
                    {"$set": {"completed_at": now}},
                    return_document=ReturnDocument.AFTER,
                ) or await self._collection.find_one({"_id": key})
        return updated

    async def close(self, tenant: str, sample_id: str, at: datetime) -> dict[str, Any] | None:
        key = sample_key(tenant, sample_id)
        with mongodb_errors("closing a sample"):
            # Closing twice keeps the first closing time.
            await self._collection.update_one(
                {"_id": key, "closed": False}, {"$set": {"closed": True, "closed_at": at}}
            )
            return await self._collection.find_one({"_id": key, "tenant": tenant})

    async def get(self, tenant: str, sample_id: str) -> dict[str, Any] | None:
        with mongodb_errors("reading a sample"):
            return await self._collection.find_one({"_id": sample_key(tenant, sample_id), "tenant": tenant})

    async def find(self, tenant: str, after: Cursor | None, limit: int) -> Page:
        query: dict[str, Any] = {"tenant": tenant}
        if after is not None:
            query["_id"] = {"$gt": after.id}
        with mongodb_errors("finding samples"):
            found = [doc async for doc in self._collection.find(query).sort("_id", ASCENDING).limit(limit + 1)]
        items = found[:limit]
        last = items[-1] if items and len(found) > limit else None
        return Page(items, Cursor(None, last["_id"]) if last else None)
