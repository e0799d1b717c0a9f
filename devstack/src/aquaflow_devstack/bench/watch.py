"""Watching the parts while a setting runs: CPU of each process tree, the machine, Triton's batching.

A ``Mark`` is taken before and after each timed part of the benchmark; ``cost`` turns
two marks into CPU seconds per part, CPU milliseconds per image and Triton's average
batch size in between.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from aquaflow_devstack.bench import procstat
from aquaflow_devstack.bench.triton_metrics import BatchCounters


@dataclass(frozen=True)
class Mark:
    snapshot: procstat.Snapshot
    machine_stat: str
    triton_metrics: str


@dataclass
class Cost:
    """What the parts spent over one timed part of the benchmark."""

    seconds: float
    items: int
    cpu_seconds: dict[str, float]
    cpu_ms_per_item: dict[str, float | None]
    machine_busy: float | None
    average_batch: dict[str, float | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "items": self.items,
            "cpu_seconds": {k: round(v, 3) for k, v in self.cpu_seconds.items()},
            "cpu_ms_per_item": {k: None if v is None else round(v, 3) for k, v in self.cpu_ms_per_item.items()},
            "machine_busy": None if self.machine_busy is None else round(self.machine_busy, 3),
            "triton_average_batch": {k: None if v is None else round(v, 2) for k, v in self.average_batch.items()},
        }


class Watch:
    """The processes to account (part name → root pid) and where Triton's metrics are."""

    def __init__(self, parts: dict[str, int], triton_metrics_url: str | None = None) -> None:
        self.parts = dict(parts)
        self.triton_metrics_url = triton_metrics_url
        self.hz = procstat.clock_ticks_per_second()

    def add(self, name: str, pid: int | None) -> None:
        if pid is not None:
            self.parts[name] = pid

    def mark(self) -> Mark:
        at = time.monotonic()
        return Mark(
            snapshot=procstat.snapshot(self.parts, procstat.read_table(), at),
            machine_stat=procstat.read_machine_stat(),
            triton_metrics=self._metrics(),
        )

    def cost(self, before: Mark, after: Mark, items: int, models: tuple[str, ...] = ()) -> Cost:
        seconds = procstat.cpu_seconds(before.snapshot, after.snapshot, self.hz)
        batches = {
            model: BatchCounters.read(after.triton_metrics, model)
            .since(BatchCounters.read(before.triton_metrics, model))
            .average_batch
            for model in models
        }
        return Cost(
            seconds=after.snapshot.at - before.snapshot.at,
            items=items,
            cpu_seconds=seconds,
            cpu_ms_per_item=procstat.per_item_ms(seconds, items),
            machine_busy=procstat.machine_busy_fraction(before.machine_stat, after.machine_stat),
            average_batch=batches,
        )

    def peak_rss_mib(self) -> dict[str, float]:
        """VmHWM of each part's root process, in MiB."""
        found = {}
        for name, pid in self.parts.items():
            memory = procstat.read_memory(pid)
            if memory is not None:
                found[name] = round(memory.hwm_kib / 1024, 1)
        return found

    def rss_mib(self) -> dict[str, float]:
        found = {}
        for name, pid in self.parts.items():
            memory = procstat.read_memory(pid)
            if memory is not None:
                found[name] = round(memory.rss_kib / 1024, 1)
        return found

    def _metrics(self) -> str:
        if self.triton_metrics_url is None:
            return ""
        try:
            with urllib.request.urlopen(self.triton_metrics_url, timeout=5) as response:  # noqa: S310 - local URL
                return str(response.read().decode())
        except (urllib.error.URLError, OSError):
            return ""
