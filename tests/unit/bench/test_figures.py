"""Rates, ratios, percentiles, slopes and targets of the benchmark."""

from __future__ import annotations

import pytest

from aquaflow_devstack.bench.figures import Target, fit_line, median, percentile, rate, ratio, windowed_rates


def test_rate_and_ratio_refuse_what_was_not_measured() -> None:
    assert rate(100, 4.0) == 25.0
    assert rate(0, 4.0) is None
    assert rate(10, 0.0) is None
    assert ratio(30.0, 40.0) == pytest.approx(0.75)
    assert ratio(None, 40.0) is None
    assert ratio(30.0, None) is None
    assert ratio(30.0, 0.0) is None


def test_percentiles_are_nearest_rank_values_that_were_measured() -> None:
    latencies = [float(v) for v in range(1, 201)]  # 1..200
    assert percentile(latencies, 0.99) == 198.0
    assert percentile(latencies, 0.5) == 100.0
    assert percentile(latencies, 1.0) == 200.0
    assert percentile(latencies, 0.0) == 1.0
    assert percentile([0.3, 0.1, 0.2], 0.99) == 0.3  # fewer than 100 values: p99 is the largest
    assert median([5.0, 1.0, 3.0]) == 3.0
    assert percentile([], 0.5) is None
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], 99)


def test_fit_line_finds_slope_and_intercept() -> None:
    line = fit_line([0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 7.0])
    assert line is not None
    assert line.slope == pytest.approx(2.0)
    assert line.intercept == pytest.approx(1.0)
    assert line.at(10.0) == pytest.approx(21.0)
    flat = fit_line([0.0, 1.0, 2.0], [4.0, 4.0, 4.0])
    assert flat is not None
    assert flat.slope == 0.0
    assert fit_line([1.0], [2.0]) is None
    assert fit_line([1.0, 1.0], [2.0, 3.0]) is None
    with pytest.raises(ValueError, match="x values"):
        fit_line([1.0, 2.0], [1.0])


def test_windowed_rates_count_full_windows_only() -> None:
    times = [0.5, 1.0, 1.5, 2.5, 3.5, 4.0, 4.1, 4.2, 9.9]
    rates = windowed_rates(times, start=0.0, window=2.0)
    # 9.9 ends the data: windows [0,2) [2,4) [4,6) [6,8) are full, [8,10) is partial.
    assert rates == [(1.0, 1.5), (3.0, 1.0), (5.0, 1.5), (7.0, 0.0)]
    assert windowed_rates([], 0.0, 1.0) == []
    with pytest.raises(ValueError, match="window"):
        windowed_rates([1.0], 0.0, 0.0)


@pytest.mark.parametrize(
    ("measured", "at_most", "verdict"),
    [(2.5, True, "PASS"), (3.0, True, "PASS"), (3.1, True, "FAIL"), (None, True, "N/A"), (3.1, False, "PASS")],
)
def test_target_verdicts(measured: float | None, at_most: bool, verdict: str) -> None:
    target = Target("services CPU", measured, 3.0, at_most=at_most, unit=" ms")
    assert target.verdict == verdict
    assert target.describe().startswith(verdict)
    assert ("not measured" in target.describe()) == (measured is None)
