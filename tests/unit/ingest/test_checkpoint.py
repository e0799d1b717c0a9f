"""The poller's checkpoint: nothing announced twice, nothing missed in the grace window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aquaflow_ingest.checkpoint import ListedObject, PollState, SourceState
from aquaflow_ingest.checkpoint_file import JsonFileCheckpoints
from aquaflow_ingest.errors import CheckpointUnusable

T0 = datetime(2026, 3, 14, 9, 0, 0, tzinfo=UTC)
GRACE = timedelta(minutes=5)


def listed(key: str, minutes: float, etag: str | None = None) -> ListedObject:
    return ListedObject(key=key, etag=etag or f"etag-{key}", size=10, last_modified=T0 + timedelta(minutes=minutes))


def handle_all(state: SourceState, listing: list[ListedObject]) -> list[str]:
    """One poll cycle: what is new gets recorded, then the watermark moves."""
    scan = state.scan(listing, GRACE)
    for obj in scan.new_objects:
        state.record(obj)
    state.advance(scan)
    return [o.key for o in scan.new_objects]


def test_first_cycle_takes_everything_oldest_first_whatever_the_key_order() -> None:
    state = SourceState()
    listing = [listed("a.png", 3), listed("b.png", 1), listed("c.png", 2)]
    assert handle_all(state, listing) == ["b.png", "c.png", "a.png"]
    assert state.watermark == T0 + timedelta(minutes=3)


def test_nothing_is_announced_twice() -> None:
    state = SourceState()
    listing = [listed("a.png", 0), listed("b.png", 1)]
    handle_all(state, listing)
    assert handle_all(state, listing) == []
    assert handle_all(state, [*listing, listed("c.png", 2)]) == ["c.png"]


def test_a_late_arrival_inside_the_grace_window_is_found() -> None:
    state = SourceState()
    handle_all(state, [listed("z.png", 10)])
    # Shows up after z.png although it is older, and sorts before it by key.
    late = listed("a.png", 7)
    assert handle_all(state, [late, listed("z.png", 10)]) == ["a.png"]


def test_an_object_older_than_the_window_is_taken_as_handled() -> None:
    state = SourceState()
    handle_all(state, [listed("z.png", 10)])
    assert handle_all(state, [listed("a.png", 4), listed("z.png", 10)]) == []


def test_a_changed_object_is_a_new_version() -> None:
    state = SourceState()
    handle_all(state, [listed("a.png", 0, etag="v1")])
    assert handle_all(state, [listed("a.png", 1, etag="v2")]) == ["a.png"]


def test_pairs_leaving_the_window_are_forgotten() -> None:
    state = SourceState()
    handle_all(state, [listed("a.png", 0), listed("b.png", 4)])
    assert set(state.handled) == {("a.png", "etag-a.png"), ("b.png", "etag-b.png")}
    handle_all(state, [listed("a.png", 0), listed("b.png", 4), listed("c.png", 6)])
    assert set(state.handled) == {("b.png", "etag-b.png"), ("c.png", "etag-c.png")}


def test_the_watermark_never_passes_an_unhandled_object() -> None:
    state = SourceState()
    listing = [listed("a.png", 0), listed("b.png", 1)]
    scan = state.scan(listing, GRACE)
    state.record(listing[0])
    with pytest.raises(ValueError, match=r"b\.png"):
        state.advance(scan)
    assert state.watermark is None
    assert state.scan(listing, GRACE).new_objects == [listing[1]]


def test_the_state_survives_json() -> None:
    state = PollState()
    handle_all(state.source("plankton-flowcam"), [listed("run 1/été.png", 0), listed("b.png", 2)])
    state.source("obsea-frames/cam-2/")
    again = PollState.from_json(json.loads(json.dumps(state.to_json())))
    assert again == state


async def test_the_file_store_round_trips_and_replaces_atomically(tmp_path: Path) -> None:
    store = JsonFileCheckpoints(tmp_path / "state" / "checkpoint.json")
    assert await store.load() == PollState()
    state = PollState()
    handle_all(state.source("plankton-flowcam"), [listed("a.png", 0)])
    await store.save(state)
    handle_all(state.source("plankton-flowcam"), [listed("a.png", 0), listed("b.png", 1)])
    await store.save(state)
    assert await JsonFileCheckpoints(store.path).load() == state
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["checkpoint.json"]


@pytest.mark.parametrize("content", ["{half a file", '{"version": 99, "sources": {}}', '{"version": 1}'])
async def test_an_unusable_checkpoint_stops_the_poller_instead_of_starting_over(tmp_path: Path, content: str) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_text(content)
    with pytest.raises(CheckpointUnusable, match=r"checkpoint\.json"):
        await JsonFileCheckpoints(path).load()
