from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class DriftMetrics:
    """How far what a model sees and says has moved from its reference (docs/drift.md)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.score = Gauge(
            "aquaflow_model_drift_score",
            "Effect size of the latest drift test of a signal against the model's reference, 0..1 "
            "(Kolmogorov-Smirnov distance; Cramér's V for class_mix).",
            ["model", "signal"],
            registry=registry,
        )
        self.detected = Gauge(
            "aquaflow_model_drift_detected",
            "1 while the latest drift test of a signal rejects the reference (p-value below the configured level).",
            ["model", "signal"],
            registry=registry,
        )
        self.p_value = Gauge(
            "aquaflow_model_drift_p_value",
            "p-value of the latest drift test of a signal.",
            ["model", "signal"],
            registry=registry,
        )
        self.observations = Counter(
            "aquaflow_model_drift_observations_total",
            "Values of a signal added to the model's drift window.",
            ["model", "signal"],
            registry=registry,
        )


class JoinedMetrics:
    """The requests the worker sends after joining the model calls of the messages in flight (batching.py)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = Histogram(
            "aquaflow_inference_joined_rows",
            "Rows in one request the worker sends to the model, the calls of the messages in flight joined"
            " (before Triton's dynamic batcher joins requests).",
            buckets=(1, 2, 4, 8, 16, 24, 32, 64),
            registry=registry,
        )
        self.sent = Counter(
            "aquaflow_inference_joined_requests_total",
            "Joined requests sent to the model, by why they went: full, none_expected (no other message"
            " on its way to the model) or deadline (the oldest call waited the longest it may).",
            ["reason"],
            registry=registry,
        )

    def record(self, rows: int, reason: str) -> None:
        self.rows.observe(rows)
        self.sent.labels(reason).inc()


class InferenceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.drift = DriftMetrics(registry)
        self.joined = JoinedMetrics(registry)
        self.images = Counter(
            "aquaflow_inference_images_total", "Images run through a model, by profile.", ["profile"], registry=registry
        )
        self.objects_per_image = Histogram(
            "aquaflow_inference_objects_per_image",
            "Regions, tiles or detections found per image, by profile.",
            ["profile"],
            buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=registry,
        )
        self.triton_seconds = Histogram(
            "aquaflow_inference_triton_seconds",
            "Time of one message's call to the model: preprocessing, waiting to be joined with the calls"
            " of other messages, and the answer.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.batch_rows = Histogram(
            "aquaflow_inference_rows_per_call",
            "Inputs of one message's call to the model (before calls are joined; see aquaflow_inference_joined_rows).",
            buckets=(1, 2, 4, 8, 16, 32),
            registry=registry,
        )
