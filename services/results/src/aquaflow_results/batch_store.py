"""Where the operators' endpoints and the dead-letter copies find their collections.

The composition root says which collections hold results and samples
(``install_batches``); both read through one ``MongoBatches`` on the store's database,
built when first needed (the store is open by then), never at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aquaflow_results.mongo_batches import MongoBatches
from aquaflow_results.ports import Store


@dataclass(frozen=True)
class BatchCollections:
    results: str = "results"
    batches: str = "batches"
    letters: str = "dead_letters"


class LazyBatches:
    def __init__(self, store: Store, collections: BatchCollections) -> None:
        self._store = store
        self._collections = collections
        self._batches: MongoBatches | None = None

    async def get(self) -> MongoBatches:
        if self._batches is None:
            # The sample collection is the store's public handle on its database.
            samples: Any = self._store.samples.collection
            batches = MongoBatches(
                samples.database,
                results=self._collections.results,
                samples=samples.name,
                batches=self._collections.batches,
                letters=self._collections.letters,
            )
            await batches.ensure_indexes()
            self._batches = batches
        return self._batches
