"""What ingest reports beyond every consumer's message metrics, on the same registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "aquaflow_ingest_events_total",
            "Objects and notification records seen, by source and outcome "
            "(published, duplicate, ignored, dead_lettered).",
            ["source", "outcome"],
            registry=registry,
        )
        self.poll_cycles = Counter(
            "aquaflow_ingest_poll_cycles_total",
            "Poller cycles over all configured buckets, by outcome (ok, failed).",
            ["outcome"],
            registry=registry,
        )
        self.objects_found = Counter(
            "aquaflow_ingest_poll_objects_found_total",
            "New or changed object versions the poller found, by bucket.",
            ["bucket"],
            registry=registry,
        )
        self.poll_lag = Histogram(
            "aquaflow_ingest_poll_lag_seconds",
            "Time from an object's LastModified to its announcement by the poller.",
            registry=registry,
            buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
        )
        self.last_poll = Gauge(
            "aquaflow_ingest_poll_last_success_timestamp_seconds",
            "Unix time of the poller's last complete cycle; alert when it stops moving.",
            registry=registry,
        )
