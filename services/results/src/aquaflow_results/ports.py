"""The adapters the use cases and the API need, as small Protocols.

MongoDB (``mongo*.py``) and S3 (``s3.py``) implement them; tests hand the
application real ones pointed at test servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aquaflow_results.aggregates import SampleTally
from aquaflow_results.cursors import Cursor

# The filters GET /results offers, and the document field each one reads.
RESULT_FILTERS = {
    "bucket": "object.bucket",
    "key": "object.key",
    "profile": "profile",
    "model": "model",
    "sample_id": "sample_id",
    "correlation_id": "correlation_id",
    "model_version": "model_version",
}


@dataclass(frozen=True)
class SaveOutcome:
    created: bool
    stored_at: datetime
    event_published: bool


@dataclass(frozen=True)
class ResultQuery:
    tenant: str
    # Exact matches on RESULT_FILTERS names.
    equals: dict[str, str] = field(default_factory=dict)
    key_prefix: str | None = None
    # Results with at least one object of this label.
    label: str | None = None
    stored_after: datetime | None = None
    stored_before: datetime | None = None
    after: Cursor | None = None
    limit: int = 100


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    # Where the next page starts; None on the last page.
    next: Cursor | None


class ResultStore(Protocol):
    async def save(self, document: dict[str, Any]) -> SaveOutcome:
        """Insert ``document`` unless a result with its id exists; report which happened."""

    async def mark_published(self, result_id: str, at: datetime) -> None:
        """Record that the result's event went out; written when this returns."""

    def mark_published_soon(self, result_id: str, at: datetime) -> None:
        """Record that the result's event went out, written with the store's next write (or shortly)."""

    async def find(self, query: ResultQuery) -> Page: ...

    async def get(self, tenant: str, result_id: str) -> dict[str, Any] | None: ...

    async def of_sample(self, tenant: str, sample_id: str) -> list[dict[str, Any]]:
        """Every result of one sample, oldest first (for the EcoTaxa package)."""

    async def tally(self, tenant: str, sample_id: str) -> SampleTally: ...

    async def record_failure(self, document: dict[str, Any]) -> None:
        """Remember that an upload of a sample failed (keyed by the result it would have had)."""


class SampleStore(Protocol):
    async def ensure(self, tenant: str, sample_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        """Create the sample if it does not exist, with ``metadata`` (from an upload) as a start; return it."""

    async def set_manifest(
        self, tenant: str, sample_id: str, metadata: dict[str, Any], expected_objects: int | None, source: str
    ) -> dict[str, Any]:
        """Create or update the sample from its manifest (the manifest wins over uploads)."""

    async def set_aggregates(
        self, tenant: str, sample_id: str, aggregates: dict[str, Any], basis: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Store freshly computed aggregates unless newer ones (more processed) are stored.

        With ``basis`` (fields of the sample and the values the aggregates were computed
        from), only if the sample still has exactly those values.
        """

    async def close(self, tenant: str, sample_id: str, at: datetime) -> dict[str, Any] | None: ...

    async def get(self, tenant: str, sample_id: str) -> dict[str, Any] | None: ...

    async def find(self, tenant: str, after: Cursor | None, limit: int) -> Page: ...

    @property
    def collection(self) -> Any:
        """The underlying collection, for the EcoTaxa push code that owns ``push``."""


class Store(Protocol):
    """Both collections behind one connection, opened and closed by the app."""

    @property
    def results(self) -> ResultStore: ...

    @property
    def samples(self) -> SampleStore: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...


@dataclass(frozen=True)
class StoredObject:
    content_type: str
    length: int | None
    chunks: AsyncIterator[bytes]


class ObjectReader(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """Whether S3 answers (the probe while the consumers are paused on an S3 outage)."""

    async def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """The whole object; PermanentError if missing or larger than ``max_bytes``."""

    async def stream(self, bucket: str, key: str) -> StoredObject | None:
        """The object as chunks, or None if it does not exist."""


# Called when a sample is complete or closed: asks for its EcoTaxa push (the pusher decides).
SampleReadyHook = Callable[[str, str], Awaitable[None]]
