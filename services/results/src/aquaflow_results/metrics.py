"""What results reports beyond every consumer's message metrics, on the same registry: samples and EcoTaxa pushes."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from aquaflow_results.ecotaxa.state import Push, PushState
from aquaflow_results.ports import SampleReadyHook

# Push states the pusher leaves a sample in until someone asks again.
FINAL_STATES = (PushState.DONE, PushState.FAILED, PushState.NEEDS_ATTENTION)
# The steps of a push, named by the state a sample is in when the step runs.
STEPS = (PushState.PENDING, PushState.UPLOADED, PushState.IMPORTING)


class ResultsMetrics:
    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.samples_ready = Counter(
            "aquaflow_samples_ready_total",
            "Samples handed to the EcoTaxa push because they became complete or were closed (a "
            "redelivered completion counts again; the push itself happens once).",
            registry=registry,
        )
        self.pushes = Counter(
            "aquaflow_ecotaxa_pushes_total",
            "Sample pushes into EcoTaxa that ended, by final state (done, failed, needs_attention).",
            ["state"],
            registry=registry,
        )
        self.push_errors = Counter(
            "aquaflow_ecotaxa_push_errors_total",
            "Push steps that met a transient failure (EcoTaxa or S3 unreachable, refused for now) and "
            "wait to be tried again, by step (the state the sample was in: pending, uploaded, importing).",
            ["step"],
            registry=registry,
        )
        self.last_push = Gauge(
            "aquaflow_ecotaxa_push_last_success_timestamp_seconds",
            "Unix time of the last push that ended done; 0 until one has.",
            registry=registry,
        )
        # Every series from the start: "no failure yet" is a 0, not a missing series.
        for state in FINAL_STATES:
            self.pushes.labels(state.value)
        for step in STEPS:
            self.push_errors.labels(step.value)

    def push_step(self, before: Push, after: Push) -> None:
        """One step of a sample's push has been saved: count how it ended."""
        if after.state in FINAL_STATES and after.state is not before.state:
            self.pushes.labels(after.state.value).inc()
            if after.state is PushState.DONE:
                self.last_push.set(self._clock())
        elif after.attempts > before.attempts:
            self.push_errors.labels(before.state.value).inc()

    def counting_ready(self, hook: SampleReadyHook) -> SampleReadyHook:
        """``hook``, counting each sample it is called for."""

        async def counted(tenant: str, sample_id: str) -> None:
            await hook(tenant, sample_id)
            self.samples_ready.inc()

        return counted
