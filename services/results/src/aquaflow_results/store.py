"""Where results live: a small Protocol, MongoDB for real, an in-process store for demos."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aquaflow_results.documents import UNIQUE_FIELDS

QUERYABLE = {
    "tenant": "tenant",
    "bucket": "object.bucket",
    "key": "object.key",
    "profile": "profile",
    "model": "model",
    "correlation_id": "correlation_id",
}


@dataclass(frozen=True)
class SaveOutcome:
    created: bool
    stored_at: datetime
    event_published: bool


class ResultStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def save(self, document: dict[str, Any]) -> SaveOutcome:
        """Insert ``document`` unless a result with its id exists; report which happened."""

    async def mark_published(self, result_id: str, at: datetime) -> None: ...

    async def find(self, filters: dict[str, str], limit: int = 100) -> list[dict[str, Any]]: ...


def _field(document: dict[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class InMemoryResultStore:
    """A process-local store with the same uniqueness rule as the MongoDB one.

    For ``make demo`` and for test runs where no MongoDB server is reachable;
    everything is lost when the process ends.
    """

    def __init__(self) -> None:
        self._documents: dict[str, dict[str, Any]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def save(self, document: dict[str, Any]) -> SaveOutcome:
        existing = self._documents.get(document["_id"])
        if existing is None:
            unique = tuple(_field(document, f) for f in UNIQUE_FIELDS)
            clash = [d for d in self._documents.values() if tuple(_field(d, f) for f in UNIQUE_FIELDS) == unique]
            if clash:
                existing = clash[0]
        if existing is not None:
            return SaveOutcome(False, existing["stored_at"], existing["event_published_at"] is not None)
        self._documents[document["_id"]] = dict(document)
        return SaveOutcome(True, document["stored_at"], False)

    async def mark_published(self, result_id: str, at: datetime) -> None:
        self._documents[result_id]["event_published_at"] = at

    async def find(self, filters: dict[str, str], limit: int = 100) -> list[dict[str, Any]]:
        wanted = {QUERYABLE[k]: v for k, v in filters.items()}
        hits = [d for d in self._documents.values() if all(_field(d, f) == v for f, v in wanted.items())]
        return hits[:limit]
