"""The backlog run's verdict on memory and throughput over time."""

from __future__ import annotations

import pytest

from aquaflow_devstack.bench.backlog import BacklogReport


def test_slopes_of_memory_and_throughput() -> None:
    report = BacklogReport(
        messages=1200,
        results=1200,
        dead=0,
        publish_seconds=2.0,
        drain_seconds=60.0,
        samples=[
            {"t": 0.0, "results": 0, "rss": {"router": 100.0, "results": 200.0}},
            {"t": 30.0, "results": 600, "rss": {"router": 100.0, "results": 230.0}},
            {"t": 60.0, "results": 1200, "rss": {"router": 100.0, "results": 260.0}},
        ],
        rates=[(5.0, 22.0), (15.0, 21.0), (25.0, 20.0), (35.0, 19.0)],
    )
    analysis = report.analysis()
    assert analysis["rss"]["router"]["slope_mib_per_minute"] == 0.0
    grows = analysis["rss"]["results"]
    assert grows["slope_mib_per_minute"] == pytest.approx(60.0)
    # 20 results/s: 10,000 messages take 500 s, in which results grows 500 MiB.
    assert grows["slope_mib_per_10k_messages"] == pytest.approx(500.0)
    assert (grows["start_mib"], grows["peak_mib"], grows["end_mib"]) == (200.0, 260.0, 260.0)
    throughput = analysis["throughput"]
    assert throughput["overall_results_per_second"] == 20.0
    assert throughput["slope_per_minute"] == pytest.approx(-6.0)
    assert throughput["relative_change_over_run"] == pytest.approx(-0.1 * 60 / 20.5, abs=1e-3)
    assert report.as_dict()["messages"] == 1200
