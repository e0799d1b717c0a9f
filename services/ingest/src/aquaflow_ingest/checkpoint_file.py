"""Where the poller keeps its checkpoint: a JSON file, replaced atomically."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Protocol

from aquaflow_ingest.checkpoint import PollState
from aquaflow_ingest.errors import CheckpointUnusable


class CheckpointStore(Protocol):
    async def load(self) -> PollState: ...

    async def save(self, state: PollState) -> None: ...


class JsonFileCheckpoints:
    """A missing file means a first start; an unreadable one stops the poller.

    Silently starting over would announce every object in the buckets again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> PollState:
        return await asyncio.to_thread(self._load)

    async def save(self, state: PollState) -> None:
        await asyncio.to_thread(self._save, json.dumps(state.to_json(), indent=1, ensure_ascii=False))

    def _load(self) -> PollState:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return PollState()
        except OSError as error:
            raise CheckpointUnusable(f"checkpoint {self.path} cannot be read: {error}") from error
        try:
            return PollState.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CheckpointUnusable(
                f"checkpoint {self.path} is not a poller checkpoint ({type(error).__name__}: {error}); "
                "fix or remove it (removing it announces every object again)"
            ) from error

    def _save(self, text: str) -> None:
        # Write a sibling, flush it to disk, then rename over the old file: a crash at
        # any point leaves either the old checkpoint or the new one, never half of one.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
