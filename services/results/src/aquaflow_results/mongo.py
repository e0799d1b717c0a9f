"""MongoDB, through PyMongo's own async API (Motor is deprecated): one client, two collections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.monitoring import CommandListener

from aquaflow_results.documents import UNIQUE_FIELDS
from aquaflow_results.mongo_errors import mongodb_errors
from aquaflow_results.mongo_results import MongoResults
from aquaflow_results.mongo_samples import MongoSamples
from aquaflow_shared.errors import DependencyUnavailable

UNIQUE_INDEX = "one_result_per_object_version_model_and_pinned_version"
# The unique index before versions could be pinned: it would refuse a second pinned version
# of a model on the same object, so it is dropped once the new one exists.
LEGACY_UNIQUE_INDEX = "one_result_per_object_version_and_model"
INDEX_NOT_FOUND = 27  # MongoDB's IndexNotFound


class MongoStore:
    """The result and sample collections of one database, behind one client.

    The client is created in ``open`` (the app's start-up), never at import or construction,
    so building the app touches no network.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        results: str = "results",
        samples: str = "samples",
        timeout_seconds: float = 5,
        event_listeners: Sequence[CommandListener] = (),
    ) -> None:
        self._url = url
        # Watching every command the store sends (the tests count them).
        self._listeners = list(event_listeners)
        self._database_name = database
        self._names = (results, samples)
        self._timeout_ms = int(timeout_seconds * 1000)
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._results: MongoResults | None = None
        self._samples: MongoSamples | None = None

    @property
    def results(self) -> MongoResults:
        if self._results is None:
            raise DependencyUnavailable("mongodb", "the store is not open")
        return self._results

    @property
    def samples(self) -> MongoSamples:
        if self._samples is None:
            raise DependencyUnavailable("mongodb", "the store is not open")
        return self._samples

    @property
    def database(self) -> AsyncDatabase[dict[str, Any]]:
        if self._client is None:
            raise DependencyUnavailable("mongodb", "the store is not open")
        return self._client[self._database_name]

    async def open(self) -> None:
        # Acknowledged means durable: a result is acknowledged to the broker (and its
        # inference event dropped) once stored, so a MongoDB crash must not lose it.
        # Majority and journal: on a replica set a failover cannot roll it back either.
        self._client = AsyncMongoClient(
            self._url,
            serverSelectionTimeoutMS=self._timeout_ms,
            timeoutMS=self._timeout_ms,
            tz_aware=True,
            w="majority",
            journal=True,
            event_listeners=self._listeners,
        )
        try:
            await self._ensure_indexes()
        except DependencyUnavailable as down:
            # Start anyway: the consumers pause on the first message and the probe
            # (``ping``) creates the indexes once MongoDB answers. Nothing is stored before.
            structlog.get_logger("results").warning("MongoDB unreachable at start-up", reason=down.reason)

    async def _ensure_indexes(self) -> None:
        results, samples = (self.database[name] for name in self._names)
        failures = self.database[f"{self._names[0]}.failures"]
        with mongodb_errors("creating indexes"):
            await results.create_index([(f, ASCENDING) for f in UNIQUE_FIELDS], unique=True, name=UNIQUE_INDEX)
            if LEGACY_UNIQUE_INDEX in await results.index_information():
                try:
                    await results.drop_index(LEGACY_UNIQUE_INDEX)
                except OperationFailure as error:
                    if error.code != INDEX_NOT_FOUND:
                        raise  # not another replica dropping it first
            await results.create_index([("tenant", ASCENDING), ("stored_at", ASCENDING), ("_id", ASCENDING)])
            await results.create_index([("tenant", ASCENDING), ("sample_id", ASCENDING), ("stored_at", ASCENDING)])
            await results.create_index([("tenant", ASCENDING), ("object.bucket", ASCENDING), ("object.key", ASCENDING)])
            await results.create_index([("correlation_id", ASCENDING)])
            await samples.create_index([("tenant", ASCENDING), ("_id", ASCENDING)])
            await failures.create_index([("tenant", ASCENDING), ("sample_id", ASCENDING)])
        # Only now can results be stored: the unique index is what makes a result unique.
        self._results = MongoResults(results, failures)
        self._samples = MongoSamples(samples)

    async def close(self) -> None:
        if self._results is not None:
            await self._results.close()  # the marks of announced results not written yet
        if self._client is not None:
            await self._client.close()
        self._client = self._results = self._samples = None

    async def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            await self._client.admin.command("ping")
            if self._results is None:
                await self._ensure_indexes()
        except (PyMongoError, DependencyUnavailable):
            return False
        return True
