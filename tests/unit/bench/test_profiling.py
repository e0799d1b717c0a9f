"""The hottest functions in a py-spy raw profile."""

from __future__ import annotations

import pytest

from aquaflow_devstack.bench.profiling import frame_name, hottest

MAIN = "<module> (aquaflow_inference/__main__.py:14)"
LOOP = "run (asyncio/base_events.py:600)"
RAW = "\n".join(
    [
        f"{MAIN};{LOOP};handle (aquaflow_inference/service.py:40);_normalise (aquaflow_inference/preprocess.py:61) 30",
        f"{MAIN};{LOOP};handle (aquaflow_inference/service.py:42);_normalise (aquaflow_inference/preprocess.py:63) 10",
        f"{MAIN};{LOOP};write (asyncio/selector_events.py:1050) 40",
        f"{MAIN};_worker (concurrent/futures/thread.py:83);_convex_hull (aquaflow_inference/features.py:90) 20",
        "garbage line",
    ]
)


def test_line_numbers_are_merged_into_one_function() -> None:
    assert frame_name(" handle (aquaflow_inference/service.py:42)") == "handle (aquaflow_inference/service.py)"


def test_self_inclusive_and_own_code_shares() -> None:
    found = hottest(RAW, top=3)
    assert found["samples"] == 100
    assert found["self"] == [
        {"function": "_normalise (aquaflow_inference/preprocess.py)", "share": 0.4},
        {"function": "write (asyncio/selector_events.py)", "share": 0.4},
        {"function": "_convex_hull (aquaflow_inference/features.py)", "share": 0.2},
    ]
    inclusive = {f["function"]: f["share"] for f in found["inclusive"]}
    assert inclusive["<module> (aquaflow_inference/__main__.py)"] == pytest.approx(1.0)
    assert inclusive["run (asyncio/base_events.py)"] == pytest.approx(0.8)
    own = [f["function"] for f in found["own_code"]]
    assert "<module> (aquaflow_inference/__main__.py)" not in own  # under every sample: an entry point
    assert set(own[:2]) == {"handle (aquaflow_inference/service.py)", "_normalise (aquaflow_inference/preprocess.py)"}
    assert all("aquaflow_" in name for name in own)


def test_an_empty_profile() -> None:
    assert hottest("") == {"samples": 0, "self": [], "inclusive": [], "own_code": []}
