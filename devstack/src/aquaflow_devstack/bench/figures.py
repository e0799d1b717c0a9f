"""The arithmetic of the benchmark, without I/O: rates, ratios, percentiles, slopes, targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def rate(count: int, seconds: float) -> float | None:
    """Items per second; None when nothing was timed."""
    if seconds <= 0 or count <= 0:
        return None
    return count / seconds


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``fraction`` in 0..1): a value that was measured, never an interpolation.

    p99 of 200 latencies is the 198th smallest; of 50, the largest. None for no values.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 0.5)


@dataclass(frozen=True)
class Line:
    """A least-squares straight line y = intercept + slope · x."""

    slope: float
    intercept: float

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Line | None:
    """The least-squares line through the points; None with fewer than two distinct x."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values for {len(ys)} y values")
    n = len(xs)
    if n < 2:
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return Line(slope=slope, intercept=mean_y - slope * mean_x)


def windowed_rates(times: Sequence[float], start: float, window: float) -> list[tuple[float, float]]:
    """Events per second in consecutive windows from ``start``: (window centre, rate) per full window.

    ``times`` are the moments events happened; the last, partial window is left out so a
    tail that is still filling does not read as a slowdown.
    """
    if window <= 0:
        raise ValueError("window must be positive")
    if not times:
        return []
    end = max(times)
    full = int((end - start) // window)
    counts = [0] * full
    for moment in times:
        slot = int((moment - start) // window)
        if 0 <= slot < full:
            counts[slot] += 1
    return [(start + (i + 0.5) * window, c / window) for i, c in enumerate(counts)]


@dataclass(frozen=True)
class Target:
    """One goal the benchmark reports against: ``measured`` compared with ``limit``."""

    name: str
    measured: float | None
    limit: float
    at_most: bool  # True: measured must not exceed limit; False: must reach it
    unit: str = ""

    @property
    def passed(self) -> bool | None:
        """None when the figure could not be measured."""
        if self.measured is None:
            return None
        return self.measured <= self.limit if self.at_most else self.measured >= self.limit

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "N/A"}[self.passed]

    def describe(self) -> str:
        sign = "<=" if self.at_most else ">="
        shown = "not measured" if self.measured is None else f"{self.measured:.3g}{self.unit}"
        return f"{self.verdict:<4}  {self.name}: {shown} (target {sign} {self.limit:g}{self.unit})"
