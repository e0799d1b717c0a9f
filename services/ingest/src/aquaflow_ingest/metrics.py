"""What ingest reports beyond every consumer's message metrics, on the same registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "aquaflow_ingest_events_total",
            "Objects and notification records seen, by source and outcome "
            "(published, expanded, duplicate, ignored, dead_lettered, gone, pending, too_old, too_recent).",
            ["source", "outcome"],
            registry=registry,
        )
        self.archives = Counter(
            "aquaflow_ingest_archives_total",
            "Uploaded archives handled, by outcome (expanded, or the dead-letter code of the bound broken).",
            ["outcome"],
            registry=registry,
        )
        self.members_written = Counter(
            "aquaflow_ingest_archive_members_written_total",
            "Archive members written to S3 as objects of their own (a re-expansion reuses them).",
            registry=registry,
        )
        self.webhook_requests = Counter(
            "aquaflow_ingest_webhook_requests_total",
            "Requests to the MinIO webhook endpoint, by HTTP status.",
            ["status"],
            registry=registry,
        )
        self.sweep_cycles = Counter(
            "aquaflow_ingest_sweep_cycles_total",
            "Sweep cycles over all configured sources, by outcome (ok, failed).",
            ["outcome"],
            registry=registry,
        )
        self.sweep_pages = Counter(
            "aquaflow_ingest_sweep_pages_total",
            "Listing pages the sweep read, by source (s3-poller, s3-reconcile) and bucket.",
            ["source", "bucket"],
            registry=registry,
        )
        self.sweep_passes = Counter(
            "aquaflow_ingest_sweep_passes_total",
            "Complete passes over a bucket/prefix (the listing wrapped to its start).",
            ["source", "bucket"],
            registry=registry,
        )
        self.sweep_lag = Histogram(
            "aquaflow_ingest_sweep_lag_seconds",
            "Time from an object's LastModified to its announcement by the sweep.",
            registry=registry,
            buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400),
        )
        self.last_sweep = Gauge(
            "aquaflow_ingest_sweep_last_success_timestamp_seconds",
            "Unix time of the sweep's last complete cycle; alert when it stops moving.",
            registry=registry,
        )
