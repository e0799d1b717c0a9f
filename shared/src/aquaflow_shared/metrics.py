"""Prometheus metrics shared by every consumer, on an explicit per-app registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

M = TypeVar("M", Counter, Gauge, Histogram)


class Children(Generic[M]):
    """A labelled metric's children, each looked up once.

    ``labels()`` takes a lock and checks and converts every label value on each call; per
    message that adds up, while the set of label values a service uses is small and fixed.
    """

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


@dataclass
class ConsumerMetrics:
    """What every stage reports about the messages it settles."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.messages = Counter(
            "aquaflow_messages_total",
            "Messages settled by a stage, by outcome (ok, retried, dead_lettered, duplicate).",
            ["stage", "outcome"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "aquaflow_dead_letters_total",
            "Messages sent to the dead-letter queue, by stage and reason code.",
            ["stage", "reason"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "aquaflow_message_duration_seconds",
            "Time from delivery to settlement of one message.",
            ["stage"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.queue_wait = Histogram(
            "aquaflow_message_queue_wait_seconds",
            "Time a message waited in its queue, from its publish (AMQP timestamp, whole seconds) to its "
            "delivery to a stage; messages published without a timestamp are not counted.",
            ["stage"],
            registry=self.registry,
            buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
        )
        self.retries = Counter(
            "aquaflow_retries_total",
            "Messages sent to wait in a stage's retry queue, by stage and error code.",
            ["stage", "code"],
            registry=self.registry,
        )
        self.paused = Gauge(
            "aquaflow_consumer_paused",
            "1 while a stage takes no messages because a dependency is unavailable.",
            ["stage", "dependency"],
            registry=self.registry,
        )
        self.outages = Counter(
            "aquaflow_dependency_outages_total",
            "Times a stage paused because a dependency became unavailable.",
            ["stage", "dependency"],
            registry=self.registry,
        )
