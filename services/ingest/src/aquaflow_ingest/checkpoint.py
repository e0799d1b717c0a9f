"""Where the sweep is in each bucket/prefix it lists: pure state, no I/O.

The sweep reads one ListObjectsV2 page per source and cycle, starting after the
last key of the previous page (``StartAfter``), and wraps to the start of the
listing after its last page, so a key inserted before the current position is
found on the next pass. The checkpoint keeps that position per source, so a
restart resumes where the sweep was instead of listing the bucket from the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHECKPOINT_VERSION = 2
# The watermark checkpoint of the earlier poller; its content does not carry over.
_SUPERSEDED_VERSIONS = {1}


@dataclass
class SweepState:
    positions: dict[str, str] = field(default_factory=dict)
    passes: dict[str, int] = field(default_factory=dict)

    def start_after(self, source: str) -> str:
        return self.positions.get(source, "")

    def advance(self, source: str, last_key: str | None, *, truncated: bool) -> bool:
        """Move past a page; True when the page ended a pass (the next one starts from the beginning)."""
        if truncated and last_key is not None:
            self.positions[source] = last_key
            return False
        self.positions[source] = ""
        self.passes[source] = self.passes.get(source, 0) + 1
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "sources": {
                name: {"start_after": self.positions.get(name, ""), "passes": self.passes.get(name, 0)}
                for name in sorted(set(self.positions) | set(self.passes))
            },
        }

    @classmethod
    def from_json(cls, raw: Any) -> SweepState:
        """Raises ``ValueError`` (or ``KeyError``/``TypeError``) on anything but a checkpoint."""
        if not isinstance(raw, dict):
            raise ValueError("not a checkpoint object")
        if raw.get("version") in _SUPERSEDED_VERSIONS:
            return cls()  # start the sweep from the beginning; the claims keep it from re-announcing
        if raw.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"not a version {CHECKPOINT_VERSION} checkpoint")
        state = cls()
        for name, entry in raw["sources"].items():
            state.positions[str(name)] = str(entry["start_after"])
            state.passes[str(name)] = int(entry["passes"])
        return state
