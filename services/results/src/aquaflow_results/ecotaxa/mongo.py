"""Every MongoDB access of the EcoTaxa push, in one module: the shape of the documents is assumed here only.

``samples``: ``_id`` = ``"<tenant>:<sample_id>"``, ``tenant``, ``sample_id``, ``metadata``,
and ``push`` (this package's sub-document, plus ``lease_token``/``lease_until`` while a
replica works on it). ``results``: one document per object version and model (and pinned version), with
``tenant``, ``sample_id`` and ``objects``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from aquaflow_results.ecotaxa.state import ACTIVE_STATES, Push, PushState, not_configured, requested
from aquaflow_shared.errors import DependencyUnavailable

Document = dict[str, Any]
_ACTIVE = sorted(state.value for state in ACTIVE_STATES)


def sample_key(tenant: str, sample_id: str) -> str:
    return f"{tenant}:{sample_id}"


@dataclass(frozen=True)
class ClaimedSample:
    """A sample this replica holds the lease of, with its push state as claimed."""

    key: str
    tenant: str
    sample_id: str
    document: Document
    push: Push
    token: str


class PushStore(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def claim(
        self, tenants: Collection[str], *, now: datetime, lease_until: datetime, token: str
    ) -> ClaimedSample | None:
        """Atomically take one due sample of these tenants whose push is under way."""

    async def save(self, claimed: ClaimedSample, push: Push) -> bool:
        """Store the new push state and release the lease; False if the lease was lost meanwhile."""

    async def results_of(self, tenant: str, sample_id: str) -> list[Document]: ...

    async def mark_not_configured(self, tenants: Collection[str], *, now: datetime) -> int:
        """Pushes under way for tenants outside ``tenants`` become ``not_configured``."""


def _unavailable(error: PyMongoError) -> DependencyUnavailable:
    return DependencyUnavailable("mongodb", f"{type(error).__name__}: {error}")


def _push_fields(push: Push) -> Document:
    return {**push.to_document(), "lease_token": None, "lease_until": None}


class MongoPushStore:
    def __init__(self, samples: AsyncCollection[Document], results: AsyncCollection[Document]) -> None:
        self._samples = samples
        self._results = results

    async def ensure_indexes(self) -> None:
        try:
            await self._samples.create_index([("push.state", ASCENDING), ("push.next_attempt_at", ASCENDING)])
            await self._results.create_index([("tenant", ASCENDING), ("sample_id", ASCENDING)])
        except PyMongoError as error:
            raise _unavailable(error) from error

    async def claim(
        self, tenants: Collection[str], *, now: datetime, lease_until: datetime, token: str
    ) -> ClaimedSample | None:
        query = {
            "push.state": {"$in": _ACTIVE},
            "tenant": {"$in": sorted(tenants)},
            "$and": [
                {"$or": [{"push.next_attempt_at": None}, {"push.next_attempt_at": {"$lte": now}}]},
                {"$or": [{"push.lease_until": None}, {"push.lease_until": {"$lte": now}}]},
            ],
        }
        try:
            document = await self._samples.find_one_and_update(
                query,
                {"$set": {"push.lease_token": token, "push.lease_until": lease_until}},
                sort=[("push.next_attempt_at", ASCENDING), ("_id", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
        except PyMongoError as error:
            raise _unavailable(error) from error
        if document is None:
            return None
        return ClaimedSample(
            key=str(document["_id"]),
            tenant=str(document["tenant"]),
            sample_id=str(document["sample_id"]),
            document=document,
            push=Push.from_document(document["push"]),
            token=token,
        )

    async def save(self, claimed: ClaimedSample, push: Push) -> bool:
        try:
            written = await self._samples.update_one(
                {"_id": claimed.key, "push.lease_token": claimed.token}, {"$set": {"push": _push_fields(push)}}
            )
        except PyMongoError as error:
            raise _unavailable(error) from error
        return written.matched_count == 1

    async def results_of(self, tenant: str, sample_id: str) -> list[Document]:
        try:
            return [doc async for doc in self._results.find({"tenant": tenant, "sample_id": sample_id})]
        except PyMongoError as error:
            raise _unavailable(error) from error

    async def mark_not_configured(self, tenants: Collection[str], *, now: datetime) -> int:
        try:
            written = await self._samples.update_many(
                {"push.state": {"$in": _ACTIVE}, "tenant": {"$nin": sorted(tenants)}},
                {"$set": {"push": _push_fields(not_configured(now))}},
            )
        except PyMongoError as error:
            raise _unavailable(error) from error
        return written.modified_count


async def request_push(
    samples_collection: AsyncCollection[Document], tenant: str, sample_id: str, *, now: datetime | None = None
) -> PushState | None:
    """Ask for the sample to be pushed to EcoTaxa; returns its push state, None if there is no such sample.

    A sample that is not being pushed (never pushed, done, failed, needs attention, not
    configured) starts again from ``pending``; one already under way is left as it is.
    Pushing a ``done`` sample again adds nothing to EcoTaxa: object ids are deterministic
    and imports skip existing objects.
    """
    key = sample_key(tenant, sample_id)
    fresh = _push_fields(requested(now or datetime.now(UTC)))
    try:
        written = await samples_collection.update_one(
            {"_id": key, "tenant": tenant, "push.state": {"$nin": _ACTIVE}}, {"$set": {"push": fresh}}
        )
        if written.matched_count == 1:
            return PushState.PENDING
        current = await samples_collection.find_one({"_id": key, "tenant": tenant}, {"push.state": 1})
    except PyMongoError as error:
        raise _unavailable(error) from error
    if current is None:
        return None
    return PushState((current.get("push") or {}).get("state", PushState.PENDING.value))
