"""How the benchmark reads result announcements and dead letters, and settles a set of uploads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from aquaflow_devstack.bench.pipeline import Arrival, Upload, arrival_of, settle

STORED = datetime(2026, 5, 2, 8, 30, 0, 250000, tzinfo=UTC)


def result_body(key: str) -> bytes:
    return json.dumps(
        {"object": {"bucket": "bench-plankton", "key": key, "etag": "e"}, "stored_at": STORED.isoformat()}
    ).encode()


def test_a_result_announcement_gives_its_stored_time() -> None:
    arrival = arrival_of(result_body("run-000/1.png"), "result.flowcam.bench", {}, now=0.0)
    assert arrival == Arrival("bench-plankton", "run-000/1.png", STORED.timestamp(), dead=False)


def test_a_dead_letter_gives_its_reason_and_arrival_time() -> None:
    body = json.dumps({"object": {"bucket": "bench-plankton", "key": "bad.png"}}).encode()
    arrival = arrival_of(body, "inference.failed", {"x-aquaflow-reason": "corrupt image"}, now=123.0)
    assert arrival == Arrival("bench-plankton", "bad.png", 123.0, dead=True, reason="corrupt image")


def test_bodies_about_no_object_are_ignored() -> None:
    assert arrival_of(b"not json", "result.x.y", {}, 0.0) is None
    assert arrival_of(b"[1, 2]", "result.x.y", {}, 0.0) is None
    assert arrival_of(b'{"Records": []}', "ingest.failed", {}, 0.0) is None


def test_settle_counts_results_dead_letters_missing_and_latencies() -> None:
    uploads = [Upload("b", f"k{i}", {}) for i in range(4)]
    announced = {("b", "k0"): 100.0, ("b", "k1"): 100.5, ("b", "k2"): 101.0, ("b", "k3"): 101.0}
    seen = {
        ("b", "k0"): Arrival("b", "k0", 100.2, dead=False),
        ("b", "k1"): Arrival("b", "k1", 101.5, dead=False),
        ("b", "k2"): Arrival("b", "k2", 102.0, dead=True, reason="corrupt"),
    }
    settled = settle(uploads, announced, seen)
    assert (settled.results, settled.dead, settled.missing) == (2, 1, 1)
    assert settled.latencies == pytest.approx([0.2, 1.0])
    assert settled.span_seconds == pytest.approx(1.5)  # first announcement 100.0, last result 101.5
    assert settled.dead_reasons == ["corrupt"]
