"""The results service's metrics behind the dashboard's samples and EcoTaxa panels and the push alerts.

Pure: push transitions as the pusher saves them, counted on a registry of their own.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from aquaflow_results.ecotaxa.state import (
    Backoff,
    JobStatus,
    Push,
    PushState,
    job_observed,
    requested,
    transient_failure,
)
from aquaflow_results.metrics import ResultsMetrics

NOW = datetime(2026, 5, 17, 9, 30, tzinfo=UTC)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    assert found is not None, (name, labels)
    return found


def test_every_push_series_exists_before_anything_happens() -> None:
    registry = CollectorRegistry()
    ResultsMetrics(registry)
    for state in ("done", "failed", "needs_attention"):
        assert value(registry, "aquaflow_ecotaxa_pushes_total", state=state) == 0
    for step in ("pending", "uploaded", "importing"):
        assert value(registry, "aquaflow_ecotaxa_push_errors_total", step=step) == 0
    assert value(registry, "aquaflow_samples_ready_total") == 0
    assert value(registry, "aquaflow_ecotaxa_push_last_success_timestamp_seconds") == 0


def test_a_push_that_ends_is_counted_once_by_its_final_state() -> None:
    registry = CollectorRegistry()
    metrics = ResultsMetrics(registry, clock=lambda: 1234.0)
    importing = replace(requested(NOW), state=PushState.IMPORTING, job_id=7)
    done = job_observed(importing, JobStatus(id=7, state="F"), now=NOW, poll_interval_seconds=1)
    metrics.push_step(importing, done)
    metrics.push_step(done, done)  # a lease lost and the step saved again: no second push
    failed = job_observed(importing, JobStatus(id=7, state="E", errors=("bad",)), now=NOW, poll_interval_seconds=1)
    metrics.push_step(importing, failed)
    assert value(registry, "aquaflow_ecotaxa_pushes_total", state="done") == 1
    assert value(registry, "aquaflow_ecotaxa_pushes_total", state="failed") == 1
    assert value(registry, "aquaflow_ecotaxa_push_last_success_timestamp_seconds") == 1234.0


def test_a_transient_failure_counts_as_an_error_of_its_step_and_a_step_forward_does_not() -> None:
    registry = CollectorRegistry()
    metrics = ResultsMetrics(registry)
    pending = requested(NOW)
    retried = transient_failure(pending, reason="EcoTaxa unreachable", now=NOW, backoff=Backoff(1, 60))
    metrics.push_step(pending, retried)
    uploaded: Push = replace(retried, state=PushState.UPLOADED, attempts=0)
    metrics.push_step(retried, uploaded)
    assert value(registry, "aquaflow_ecotaxa_push_errors_total", step="pending") == 1
    assert value(registry, "aquaflow_ecotaxa_push_errors_total", step="uploaded") == 0
    assert sum(value(registry, "aquaflow_ecotaxa_pushes_total", state=s) for s in ("done", "failed")) == 0


async def test_samples_handed_to_the_push_are_counted_after_the_hook_ran() -> None:
    registry = CollectorRegistry()
    metrics = ResultsMetrics(registry)
    handed: list[tuple[str, str]] = []

    async def hook(tenant: str, sample_id: str) -> None:
        handed.append((tenant, sample_id))

    counted = metrics.counting_ready(hook)
    await counted("lov", "fc_run_0517")
    await counted("lov", "m106_mn01_n1")
    assert handed == [("lov", "fc_run_0517"), ("lov", "m106_mn01_n1")]
    assert value(registry, "aquaflow_samples_ready_total") == 2
