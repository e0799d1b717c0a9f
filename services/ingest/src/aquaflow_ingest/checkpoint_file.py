"""Where the sweep keeps its checkpoint: a JSON file, replaced atomically."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Protocol

from aquaflow_ingest.checkpoint import SweepState
from aquaflow_ingest.errors import CheckpointUnusable


class CheckpointStore(Protocol):
    async def load(self) -> SweepState: ...

    async def save(self, state: SweepState) -> None: ...


class JsonFileCheckpoints:
    """A missing file means a first start; an unreadable one stops the sweep.

    Silently starting over would hide that the state was lost.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> SweepState:
        return await asyncio.to_thread(self._load)

    async def save(self, state: SweepState) -> None:
        await asyncio.to_thread(self._save, json.dumps(state.to_json(), indent=1, ensure_ascii=False))

    def _load(self) -> SweepState:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return SweepState()
        except OSError as error:
            raise CheckpointUnusable(f"checkpoint {self.path} cannot be read: {error}") from error
        try:
            return SweepState.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CheckpointUnusable(
                f"checkpoint {self.path} is not a sweep checkpoint ({type(error).__name__}: {error}); "
                "fix or remove it (removing it restarts the sweep from the start of each listing)"
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
