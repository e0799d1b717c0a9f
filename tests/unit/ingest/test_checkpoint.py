"""The sweep's position per source: page by page, wrapping, surviving a round trip through JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aquaflow_ingest.checkpoint import SweepState
from aquaflow_ingest.checkpoint_file import JsonFileCheckpoints
from aquaflow_ingest.errors import CheckpointUnusable


def test_a_pass_moves_page_by_page_and_wraps_to_the_start() -> None:
    state = SweepState()
    assert state.start_after("s3-poller:b") == ""
    assert not state.advance("s3-poller:b", "k-0999", truncated=True)
    assert state.start_after("s3-poller:b") == "k-0999"
    assert state.advance("s3-poller:b", "k-1500", truncated=False)
    assert state.start_after("s3-poller:b") == ""
    assert state.passes == {"s3-poller:b": 1}
    assert state.advance("s3-poller:b", None, truncated=False)  # an empty listing ends a pass too


async def test_the_file_round_trips_and_refuses_garbage(tmp_path: Path) -> None:
    store = JsonFileCheckpoints(tmp_path / "state" / "checkpoint.json")
    assert (await store.load()).positions == {}
    state = SweepState()
    state.advance("s3-reconcile:b/été/", "été/x.png", truncated=True)
    await store.save(state)
    again = await store.load()
    assert again.positions == {"s3-reconcile:b/été/": "été/x.png"}
    store.path.write_text("{not json")
    with pytest.raises(CheckpointUnusable, match="not a sweep checkpoint"):
        await store.load()


async def test_the_earlier_pollers_checkpoint_restarts_the_sweep(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_text(json.dumps({"version": 1, "sources": {"b": {"watermark": None, "handled": []}}}))
    assert (await JsonFileCheckpoints(path).load()).positions == {}
