"""``aquaflow status``: the figures per stage and per model, and what is healthy. Pure.

Per stage: the backlog of its queue and of its retry queue, its consumers (from the broker),
how many messages it settled per second (from two reads of the services' Prometheus
counters, ``aquaflow_messages_total``), its dead letters since the service started
(``aquaflow_dead_letters_total``) and the dependency it is paused on, if any. Per Triton
model: inferences, executions and the average batch Triton formed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class MetricSample:
    name: str
    labels: dict[str, str]
    value: float


def parse_metrics(text: str) -> list[MetricSample]:
    return [
        MetricSample(sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def settled_by_stage(samples: list[MetricSample]) -> dict[str, float]:
    """Messages each stage settled (every outcome) since its service started."""
    found: dict[str, float] = defaultdict(float)
    for sample in samples:
        if sample.name == "aquaflow_messages_total":
            found[sample.labels.get("stage", "?")] += sample.value
    return dict(found)


def dead_letters_by_stage(samples: list[MetricSample]) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = defaultdict(dict)
    for sample in samples:
        if sample.name == "aquaflow_dead_letters_total" and sample.value:
            found[sample.labels.get("stage", "?")][sample.labels.get("reason", "?")] = sample.value
    return dict(found)


def paused_on(samples: list[MetricSample]) -> dict[str, list[str]]:
    """The dependencies each stage waits for (``aquaflow_consumer_paused`` at 1)."""
    found: dict[str, list[str]] = defaultdict(list)
    for sample in samples:
        if sample.name == "aquaflow_consumer_paused" and sample.value >= 1:
            found[sample.labels.get("stage", "?")].append(sample.labels.get("dependency", "?"))
    return dict(found)


def rates(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Per-second rates between two reads of counters."""
    if seconds <= 0:
        return {}
    found = {}
    for stage, value in after.items():
        previous = before.get(stage, 0.0)
        # A counter that went down was reset by a restart: it counts again from 0.
        found[stage] = (value - previous if value >= previous else value) / seconds
    return found


def triton_models(samples: list[MetricSample]) -> dict[str, dict[str, float]]:
    """Per model: requests, inferences, executions, the average batch (inferences / executions), pending requests."""
    names = {
        "nv_inference_request_success": "requests",
        "nv_inference_request_failure": "failed_requests",
        "nv_inference_count": "inferences",
        "nv_inference_exec_count": "executions",
        "nv_inference_pending_request_count": "pending",
    }
    found: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(names.values(), 0.0))
    for sample in samples:
        # The parser names a counter's samples ``<name>_total`` when the text declares its TYPE.
        name = sample.name.removesuffix("_total")
        if name in names and "model" in sample.labels:
            found[sample.labels["model"]][names[name]] += sample.value
    for figures in found.values():
        figures["average_batch"] = (
            round(figures["inferences"] / figures["executions"], 2) if figures["executions"] else 0.0
        )
    return dict(found)


@dataclass(frozen=True)
class QueueFigures:
    name: str
    exists: bool
    messages: int = 0
    consumers: int = 0


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    url: str | None
    # None: not configured or not reachable (``error`` says which).
    healthy: bool | None
    checks: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "healthy": self.healthy, "checks": self.checks, "error": self.error}


@dataclass(frozen=True)
class StageRow:
    stage: str
    queue: QueueFigures
    retry: QueueFigures
    rate_per_second: float | None
    dead_letters: dict[str, float]
    paused_on: list[str]

    @property
    def backlog(self) -> int:
        return self.queue.messages

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "queue": self.queue.name,
            "queue_exists": self.queue.exists,
            "backlog": self.queue.messages,
            "waiting_retry": self.retry.messages,
            "consumers": self.queue.consumers,
            "rate_per_second": None if self.rate_per_second is None else round(self.rate_per_second, 2),
            "dead_letters": self.dead_letters,
            "paused_on": self.paused_on,
        }


def stage_rows(
    stages: list[str],
    queues: dict[str, QueueFigures],
    retries: dict[str, QueueFigures],
    stage_rates: dict[str, float] | None,
    samples: list[MetricSample],
) -> list[StageRow]:
    dead = dead_letters_by_stage(samples)
    paused = paused_on(samples)
    return [
        StageRow(
            stage=stage,
            queue=queues[stage],
            retry=retries[stage],
            rate_per_second=None if stage_rates is None else stage_rates.get(stage, 0.0),
            dead_letters=dead.get(stage, {}),
            paused_on=paused.get(stage, []),
        )
        for stage in stages
    ]


def problems(services: list[ServiceHealth], triton: ServiceHealth | None, rows: list[StageRow]) -> list[str]:
    """What an operator should look at, one line each; empty when all is well."""
    found = [
        f"{s.name}: {s.error or 'unhealthy: ' + ', '.join(k for k, v in s.checks.items() if v is False)}"
        for s in services
        if s.healthy is not True and s.url is not None
    ]
    if triton is not None and triton.url is not None and triton.healthy is not True:
        found.append(f"triton: {triton.error or 'not ready'}")
    for row in rows:
        if row.paused_on:
            found.append(f"{row.stage}: paused, waiting for {', '.join(row.paused_on)}")
        if row.queue.exists and row.queue.messages and not row.queue.consumers:
            found.append(f"{row.stage}: {row.queue.messages} messages waiting and no consumer")
    return found
