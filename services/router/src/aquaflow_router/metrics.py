"""The router's own metrics, beside every consumer's (on the same registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from aquaflow_shared.metrics import Children

# The version label of a request that leaves the version to the worker.
DEFAULT_VERSION = "default"


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # With a canary, the split of this counter between versions is the share actually sent.
        self.requests = Counter(
            "aquaflow_router_requests_total",
            "Inference requests published, by model and requested version (a redelivered upload counts again).",
            ["model", "version"],
            registry=registry,
        )
        self._requests = Children(self.requests)

    def requested(self, model: str, version: str | None) -> None:
        self._requests(model, version or DEFAULT_VERSION).inc()
