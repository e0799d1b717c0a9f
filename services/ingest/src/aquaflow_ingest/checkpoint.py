"""The poller's memory of what it already handled: pure logic, no I/O.

A listing comes back in key order, and keys tell nothing about when an object
arrived, so progress is tracked by time instead: a LastModified *watermark* (the
newest object handled) plus a *grace window* below it. An object is new when it is
not older than ``watermark - grace`` and its (key, ETag) pair is not among those
already handled inside the window. The window catches objects that show up in a
listing after newer ones (a multipart upload completing late, a slow replica);
the remembered pairs keep the window from announcing anything twice. Pairs that
fall out of the window are forgotten, so the state stays small.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class ListedObject:
    """One entry of a ListObjectsV2 page."""

    key: str
    etag: str
    size: int
    last_modified: datetime

    @property
    def version(self) -> tuple[str, str]:
        return (self.key, self.etag)


@dataclass
class SourceState:
    """Progress through one bucket/prefix."""

    watermark: datetime | None = None
    handled: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def is_new(self, obj: ListedObject, grace: timedelta) -> bool:
        if obj.version in self.handled:
            return False
        return self.watermark is None or obj.last_modified >= self.watermark - grace

    def scan(self, listing: Iterable[ListedObject], grace: timedelta) -> Scan:
        scan = Scan(self, grace)
        for obj in listing:
            scan.see(obj)
        return scan

    def record(self, obj: ListedObject) -> None:
        """``obj`` is settled: announced (confirmed), dead-lettered or gone."""
        self.handled[obj.version] = obj.last_modified

    def advance(self, scan: Scan) -> None:
        """Move the watermark to the newest object of a listing whose new objects were all recorded.

        Raises if one was not: the watermark must never pass an object that was
        neither announced nor rejected.
        """
        pending = [o.key for o in scan.new_objects if o.version not in self.handled]
        if pending:
            raise ValueError(f"cannot advance past unhandled objects: {pending[:5]}")
        if scan.newest is not None and (self.watermark is None or scan.newest > self.watermark):
            self.watermark = scan.newest
        if self.watermark is not None:
            horizon = self.watermark - scan.grace
            self.handled = {v: t for v, t in self.handled.items() if t >= horizon}


class Scan:
    """One pass over a listing, object by object, so a large bucket is never held in memory."""

    def __init__(self, state: SourceState, grace: timedelta) -> None:
        self.grace = grace
        self.newest: datetime | None = None
        self._state = state
        self._new: list[ListedObject] = []

    def see(self, obj: ListedObject) -> None:
        if self.newest is None or obj.last_modified > self.newest:
            self.newest = obj.last_modified
        if self._state.is_new(obj, self.grace):
            self._new.append(obj)

    @property
    def new_objects(self) -> list[ListedObject]:
        """What to announce, oldest first (keys say nothing about arrival order)."""
        return sorted(self._new, key=lambda o: (o.last_modified, o.key))


@dataclass
class PollState:
    sources: dict[str, SourceState] = field(default_factory=dict)

    def source(self, name: str) -> SourceState:
        return self.sources.setdefault(name, SourceState())

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "sources": {
                name: {
                    "watermark": state.watermark.isoformat() if state.watermark else None,
                    "handled": [
                        {"key": key, "etag": etag, "last_modified": when.isoformat()}
                        for (key, etag), when in sorted(state.handled.items())
                    ],
                }
                for name, state in sorted(self.sources.items())
            },
        }

    @classmethod
    def from_json(cls, raw: Any) -> PollState:
        """Raises ``ValueError`` (or ``KeyError``/``TypeError``) on anything but a checkpoint."""
        if not isinstance(raw, dict) or raw.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"not a version {CHECKPOINT_VERSION} checkpoint")
        sources: dict[str, SourceState] = {}
        for name, entry in raw["sources"].items():
            watermark = entry["watermark"]
            sources[str(name)] = SourceState(
                watermark=_utc(watermark) if watermark is not None else None,
                handled={(str(h["key"]), str(h["etag"])): _utc(h["last_modified"]) for h in entry["handled"]},
            )
        return cls(sources=sources)


def _utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return parsed.astimezone(UTC)
